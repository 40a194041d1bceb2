package tfevents

import "hash/crc32"

// crcTable is the Castagnoli polynomial table that TFRecords use.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maskDelta is added after the rotation in MaskCRC (TFRecord and LevelDB).
const maskDelta = 0xa282ead8

// CRC32C returns the CRC-32C (Castagnoli) checksum of data.
func CRC32C(data []byte) uint32 { return crc32.Checksum(data, crcTable) }

// MaskCRC scrambles a CRC so that data containing embedded CRCs still
// checksums well, as TFRecord does: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
func MaskCRC(crc uint32) uint32 { return (crc>>15 | crc<<17) + maskDelta }

// UnmaskCRC inverts MaskCRC.
func UnmaskCRC(masked uint32) uint32 {
	rot := masked - maskDelta
	return rot>>17 | rot<<15
}

// MaskedCRC32C returns MaskCRC(CRC32C(data)), the checksum stored in a
// TFRecord.
func MaskedCRC32C(data []byte) uint32 { return MaskCRC(CRC32C(data)) }
