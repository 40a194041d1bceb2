package gpu

// The kernel parameter structs and constants are declared once, in
// kernels/params.h; params_gen.go holds their Go side, field for field in
// the same order and types (uint64_t → uint64, int32_t → int32, float →
// float32), so that the layouts agree by the C and Go alignment rules, which
// coincide for these types on 64-bit targets. TestParamLayout checks every
// offset against g++ and every size against the .param declarations in the
// PTX.
//go:generate go run ./internal/paramgen

// Launch constants the kernels define in ops.cu rather than params.h.
const (
	colsumCols    = 32  // COLSUM_COLS
	colsumThreads = 256 // COLSUM_COLS·COLSUM_ROWS
)
