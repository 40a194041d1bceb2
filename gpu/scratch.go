package gpu

// The backend's scratch memory: one allocation made and zeroed when the
// backend opens (never inside Record), at its start the status word the
// kernels set STATUS_* bits in, then what softmax_xent_f32 needs to finish
// its mean in the last block: the count of blocks done (0 between
// launches) and one partial sum per block.
const (
	xentDoneOffset     = 4
	xentPartialsOffset = 8
	scratchBytes       = xentPartialsOffset + 4*xentMaxBlocks
)

// xentBlocks is softmax_xent_f32's grid for rows rows: a warp per row,
// at most xentMaxBlocks blocks (their warps then take several rows each),
// at least one (which writes the loss of 0 rows).
func xentBlocks(rows int) int {
	return min(max(ceilDiv(rows, xentThreads/32), 1), xentMaxBlocks)
}
