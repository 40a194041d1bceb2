// Package tfevents writes and reads TensorBoard event files: the
// events.out.tfevents.* files that `tensorboard --logdir` and our own
// `mnist plot` load.
//
// A file is a sequence of TFRecords (length, masked CRC32C of the length,
// data, masked CRC32C of the data), each holding one Event protobuf. The
// messages are encoded by hand with protowire; proto/ beside this file keeps
// the excerpts of TensorBoard's .proto files that define the fields used.
//
// Writing:
//
//	w, err := tfevents.NewWriter("runs/exp1")
//	...
//	err = w.Scalar("train/loss", step, loss)
//	err = w.Image("train/digits", 0, grid)
//	err = w.Text("hparams", 0, "| lr | 0.005 |")
//	err = w.Close()
//
// Events reach the file every couple of seconds, so TensorBoard can follow a
// run live, and at Close. Steps need not grow across tags: TensorBoard only
// drops "orphaned" steps in files older than brain.Event:2, so per-step tags
// (train/loss at the global step) and per-epoch tags (test/loss at the epoch)
// can share a file.
//
// Reading: ReadFile, ReadDir, or NewReader for a stream; Scalars pulls one
// series out of the events. Damage is reported as a *RecordError after the
// whole records before it.
package tfevents

import "fmt"

// FileVersion is the file_version string of the first event of every file
// this package writes, as TensorBoard expects.
const FileVersion = "brain.Event:2"

// Event is one record of an event file: either the file header (FileVersion
// set) or a summary holding one or more Values.
type Event struct {
	WallTime    float64 // seconds since the Unix epoch
	Step        int64
	FileVersion string // only in the first event of a file
	Values      []Value

	// Graph is the model graph of a graph event (Event.graph_def), which
	// TensorBoard's Graphs tab draws; nil in other events.
	Graph *Graph
}

// Kind says which of Value's payload fields is meaningful.
type Kind int

// The kinds of summary value the reader understands. Values of any other
// kind (audio, other plugins' tensors) are kept as KindOther with
// their tag and plugin name, so they can at least be listed.
const (
	KindOther Kind = iota
	KindScalar
	KindImage
	KindText
	KindHistogram // a HistogramProto (Histograms and Distributions tabs)
	KindHParams   // HParams plugin data (the HParams tab): see HParamsData
)

// String returns the kind's lower-case name.
func (k Kind) String() string {
	switch k {
	case KindScalar:
		return "scalar"
	case KindImage:
		return "image"
	case KindText:
		return "text"
	case KindHistogram:
		return "histogram"
	case KindHParams:
		return "hparams"
	case KindOther:
		return "other"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Value is one tagged summary value.
type Value struct {
	Tag  string
	Kind Kind

	// Scalar is the value of a KindScalar. Simple values are stored as
	// float32 on disk, so a float64 written comes back rounded to float32.
	Scalar float64

	// Image is the encoded image (PNG for what this package writes) of a
	// KindImage, Width and Height its size in pixels and Colorspace one of
	// the Colorspace constants (0 when not recorded), as the summary says.
	Image         []byte
	Width, Height int
	Colorspace    int

	// Text is the markdown of a KindText.
	Text string

	// Histogram is the distribution of a KindHistogram.
	Histogram *Histogram

	// HParams is what a KindHParams value says: the experiment, or a
	// session's start or end.
	HParams *HParamsData

	// Plugin is the TensorBoard plugin named in the value's metadata (or in
	// an earlier value with the same tag), such as "text" or "scalars";
	// empty when none was given.
	Plugin string
}
