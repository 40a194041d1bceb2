package tfevents

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers from proto/tfevents.proto.
const (
	eventWallTime    = 1
	eventStep        = 2
	eventFileVersion = 3
	eventSummary     = 5

	summaryValue = 1

	valueTag         = 1
	valueSimpleValue = 2
	valueImage       = 4
	valueTensor      = 8
	valueMetadata    = 9

	imageHeight     = 1
	imageWidth      = 2
	imageColorspace = 3
	imageEncoded    = 4

	tensorDtype     = 1
	tensorShape     = 2
	tensorContent   = 4
	tensorFloatVal  = 5
	tensorDoubleVal = 6
	tensorStringVal = 8

	metadataPluginData = 1
	pluginDataName     = 1

	dtFloat  = 1
	dtDouble = 2
	dtString = 7
)

// Colorspace values of an image summary (Value.Colorspace).
const (
	ColorspaceGray      = 1
	ColorspaceGrayAlpha = 2
	ColorspaceRGB       = 3
	ColorspaceRGBA      = 4
)

// MarshalEvent returns the protobuf encoding of e, the data of one record.
// It fails for an event that sets both FileVersion and Values (they share a
// oneof) and for values of KindOther, which it cannot encode.
func MarshalEvent(e Event) ([]byte, error) {
	return appendEvent(nil, e)
}

func appendEvent(b []byte, e Event) ([]byte, error) {
	if e.FileVersion != "" && len(e.Values) > 0 {
		return nil, errors.New("tfevents: an event holds a file version or summary values, not both")
	}
	if math.Float64bits(e.WallTime) != 0 { // keeps -0, as protobuf-go does
		b = protowire.AppendTag(b, eventWallTime, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(e.WallTime))
	}
	if e.Step != 0 {
		b = protowire.AppendTag(b, eventStep, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.Step))
	}
	if e.FileVersion != "" {
		b = protowire.AppendTag(b, eventFileVersion, protowire.BytesType)
		b = protowire.AppendString(b, e.FileVersion)
	}
	if len(e.Values) == 0 {
		return b, nil
	}
	var summary []byte
	for _, v := range e.Values {
		enc, err := appendValue(nil, v)
		if err != nil {
			return nil, err
		}
		summary = protowire.AppendTag(summary, summaryValue, protowire.BytesType)
		summary = protowire.AppendBytes(summary, enc)
	}
	b = protowire.AppendTag(b, eventSummary, protowire.BytesType)
	return protowire.AppendBytes(b, summary), nil
}

func appendValue(b []byte, v Value) ([]byte, error) {
	if v.Tag != "" {
		b = protowire.AppendTag(b, valueTag, protowire.BytesType)
		b = protowire.AppendString(b, v.Tag)
	}
	switch v.Kind {
	case KindScalar:
		// A oneof member is written even when it holds zero.
		b = protowire.AppendTag(b, valueSimpleValue, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(float32(v.Scalar)))
	case KindImage:
		var img []byte
		img = appendInt(img, imageHeight, int64(v.Height))
		img = appendInt(img, imageWidth, int64(v.Width))
		img = appendInt(img, imageColorspace, int64(v.Colorspace))
		if len(v.Image) > 0 {
			img = protowire.AppendTag(img, imageEncoded, protowire.BytesType)
			img = protowire.AppendBytes(img, v.Image)
		}
		b = protowire.AppendTag(b, valueImage, protowire.BytesType)
		b = protowire.AppendBytes(b, img)
	case KindText:
		var t []byte
		t = appendInt(t, tensorDtype, dtString)
		t = protowire.AppendTag(t, tensorShape, protowire.BytesType)
		t = protowire.AppendBytes(t, nil) // no dims: rank 0
		t = protowire.AppendTag(t, tensorStringVal, protowire.BytesType)
		t = protowire.AppendString(t, v.Text)
		b = protowire.AppendTag(b, valueTensor, protowire.BytesType)
		b = protowire.AppendBytes(b, t)
		if v.Plugin == "" {
			v.Plugin = "text"
		}
	default:
		return nil, fmt.Errorf("tfevents: value %q: cannot encode a value of kind %v", v.Tag, v.Kind)
	}
	if v.Plugin != "" {
		var pd []byte
		pd = protowire.AppendTag(pd, pluginDataName, protowire.BytesType)
		pd = protowire.AppendString(pd, v.Plugin)
		var md []byte
		md = protowire.AppendTag(md, metadataPluginData, protowire.BytesType)
		md = protowire.AppendBytes(md, pd)
		b = protowire.AppendTag(b, valueMetadata, protowire.BytesType)
		b = protowire.AppendBytes(b, md)
	}
	return b, nil
}

// appendInt appends a varint field unless it is zero (proto3 default).
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}
