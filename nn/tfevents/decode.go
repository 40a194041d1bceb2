package tfevents

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one decoded protobuf field: num and typ from its tag, the value in
// u for varint and fixed types, in b for length-delimited ones.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// eachField calls fn for every field of the message in b, in order. Groups
// (deprecated) are skipped; a malformed message is an error.
func eachField(b []byte, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalEvent decodes the data of one record. plugins maps tags to the
// plugin named by earlier values' metadata (TensorBoard writers often send
// metadata with the first value of a tag only); it is updated as metadata
// is seen and may be nil.
func UnmarshalEvent(data []byte, plugins map[string]string) (Event, error) {
	var e Event
	err := eachField(data, func(f field) error {
		switch {
		case f.num == eventWallTime && f.typ == protowire.Fixed64Type:
			e.WallTime = math.Float64frombits(f.u)
		case f.num == eventStep && f.typ == protowire.VarintType:
			e.Step = int64(f.u)
		case f.num == eventFileVersion && f.typ == protowire.BytesType:
			e.FileVersion = string(f.b)
		case f.num == eventGraphDef && f.typ == protowire.BytesType:
			g, err := UnmarshalGraph(f.b)
			if err != nil {
				return fmt.Errorf("graph_def: %w", err)
			}
			e.Graph = g
		case f.num == eventSummary && f.typ == protowire.BytesType:
			return eachField(f.b, func(f field) error {
				if f.num != summaryValue || f.typ != protowire.BytesType {
					return nil
				}
				v, err := decodeValue(f.b, plugins)
				if err != nil {
					return err
				}
				e.Values = append(e.Values, v)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return Event{}, err
	}
	return e, nil
}

// tensor holds the parts of a TensorProto the reader uses.
type tensor struct {
	dtype   uint64
	content []byte
	floats  []float32
	doubles []float64
	strings [][]byte
}

func decodeValue(b []byte, plugins map[string]string) (Value, error) {
	var v Value
	var t *tensor
	hasSimple, hasImage := false, false
	var simple float32
	var content []byte
	err := eachField(b, func(f field) error {
		var err error
		switch {
		case f.num == valueTag && f.typ == protowire.BytesType:
			v.Tag = string(f.b)
		case f.num == valueSimpleValue && f.typ == protowire.Fixed32Type:
			hasSimple, simple = true, math.Float32frombits(uint32(f.u))
		case f.num == valueImage && f.typ == protowire.BytesType:
			hasImage = true
			err = decodeImage(f.b, &v)
		case f.num == valueHisto && f.typ == protowire.BytesType:
			v.Histogram, err = decodeHistogram(f.b)
		case f.num == valueTensor && f.typ == protowire.BytesType:
			t, err = decodeTensor(f.b)
		case f.num == valueMetadata && f.typ == protowire.BytesType:
			v.Plugin, content, err = decodePluginData(f.b)
		}
		return err
	})
	if err != nil {
		return Value{}, err
	}
	if v.Plugin != "" {
		if plugins != nil {
			plugins[v.Tag] = v.Plugin
		}
	} else if plugins != nil {
		v.Plugin = plugins[v.Tag]
	}
	switch {
	case hasSimple:
		v.Kind, v.Scalar = KindScalar, float64(simple)
	case hasImage:
		v.Kind = KindImage
	case v.Histogram != nil:
		v.Kind = KindHistogram
	case v.Plugin == hparamsPlugin && content != nil:
		hp, err := unmarshalHParams(content)
		if err != nil {
			return Value{}, fmt.Errorf("value %q: hparams plugin data: %w", v.Tag, err)
		}
		v.Kind, v.HParams = KindHParams, hp
	case t != nil:
		tensorValue(t, &v)
	}
	return v, nil
}

func decodeImage(b []byte, v *Value) error {
	return eachField(b, func(f field) error {
		switch {
		case f.num == imageHeight && f.typ == protowire.VarintType:
			v.Height = int(int32(f.u))
		case f.num == imageWidth && f.typ == protowire.VarintType:
			v.Width = int(int32(f.u))
		case f.num == imageColorspace && f.typ == protowire.VarintType:
			v.Colorspace = int(int32(f.u))
		case f.num == imageEncoded && f.typ == protowire.BytesType:
			v.Image = f.b
		}
		return nil
	})
}

func decodeTensor(b []byte) (*tensor, error) {
	t := new(tensor)
	err := eachField(b, func(f field) error {
		switch {
		case f.num == tensorDtype && f.typ == protowire.VarintType:
			t.dtype = f.u
		case f.num == tensorContent && f.typ == protowire.BytesType:
			t.content = f.b
		case f.num == tensorStringVal && f.typ == protowire.BytesType:
			t.strings = append(t.strings, f.b)
		case f.num == tensorFloatVal && f.typ == protowire.Fixed32Type:
			t.floats = append(t.floats, math.Float32frombits(uint32(f.u)))
		case f.num == tensorFloatVal && f.typ == protowire.BytesType: // packed
			for p := f.b; len(p) > 0; {
				v, n := protowire.ConsumeFixed32(p)
				if n < 0 {
					return errors.New("packed float_val: " + protowire.ParseError(n).Error())
				}
				t.floats, p = append(t.floats, math.Float32frombits(v)), p[n:]
			}
		case f.num == tensorDoubleVal && f.typ == protowire.Fixed64Type:
			t.doubles = append(t.doubles, math.Float64frombits(f.u))
		case f.num == tensorDoubleVal && f.typ == protowire.BytesType: // packed
			for p := f.b; len(p) > 0; {
				v, n := protowire.ConsumeFixed64(p)
				if n < 0 {
					return errors.New("packed double_val: " + protowire.ParseError(n).Error())
				}
				t.doubles, p = append(t.doubles, math.Float64frombits(v)), p[n:]
			}
		}
		return nil
	})
	return t, err
}

// decodePluginData returns the plugin name and content of a SummaryMetadata.
func decodePluginData(b []byte) (name string, content []byte, err error) {
	err = eachField(b, func(f field) error {
		if f.num != metadataPluginData || f.typ != protowire.BytesType {
			return nil
		}
		return eachField(f.b, func(f field) error {
			switch {
			case f.num == pluginDataName && f.typ == protowire.BytesType:
				name = string(f.b)
			case f.num == pluginDataContent && f.typ == protowire.BytesType:
				content = f.b
			}
			return nil
		})
	})
	return name, content, err
}

// tensorValue interprets a tensor value by its plugin: text, scalars and
// images as TensorFlow 2 writes them. Anything else stays KindOther.
func tensorValue(t *tensor, v *Value) {
	switch v.Plugin {
	case "text":
		if t.dtype == dtString {
			parts := make([]string, len(t.strings))
			for i, s := range t.strings {
				parts[i] = string(s)
			}
			v.Kind, v.Text = KindText, strings.Join(parts, "\n")
		}
	case "scalars":
		if x, ok := t.scalar(); ok {
			v.Kind, v.Scalar = KindScalar, x
		}
	case "images":
		// string_val is [width, height, image, image, ...]; keep the first.
		if t.dtype == dtString && len(t.strings) >= 3 {
			w, errW := strconv.Atoi(string(t.strings[0]))
			h, errH := strconv.Atoi(string(t.strings[1]))
			if errW == nil && errH == nil {
				v.Kind, v.Width, v.Height, v.Image = KindImage, w, h, t.strings[2]
			}
		}
	}
}

// scalar returns the single number held by a float or double tensor.
func (t *tensor) scalar() (float64, bool) {
	switch t.dtype {
	case dtFloat:
		if len(t.floats) > 0 {
			return float64(t.floats[0]), true
		}
		if len(t.content) >= 4 {
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(t.content))), true
		}
	case dtDouble:
		if len(t.doubles) > 0 {
			return t.doubles[0], true
		}
		if len(t.content) >= 8 {
			return math.Float64frombits(binary.LittleEndian.Uint64(t.content)), true
		}
	}
	return 0, false
}
