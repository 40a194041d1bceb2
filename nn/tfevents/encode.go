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
	valueHisto       = 5
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
	pluginDataContent  = 2

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
	parts := 0
	for _, set := range []bool{e.FileVersion != "", len(e.Values) > 0, e.Graph != nil} {
		if set {
			parts++
		}
	}
	if parts > 1 {
		return nil, errors.New("tfevents: an event holds one of a file version, summary values or a graph")
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
	if e.Graph != nil {
		g, err := MarshalGraph(*e.Graph)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, eventGraphDef, protowire.BytesType)
		b = protowire.AppendBytes(b, g)
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

// appendScalarEvent appends the encoding of Event{WallTime: wall, Step:
// step, Values: []Value{{Tag: tag, Kind: KindScalar, Scalar: v}}}: the same
// bytes as appendEvent's, without building the messages inside it one by
// one (a training run logs a loss a step; this allocates nothing).
func appendScalarEvent(b []byte, wall float64, step int64, tag string, v float32) []byte {
	valueLen := protowire.SizeTag(valueSimpleValue) + protowire.SizeFixed32()
	if tag != "" {
		valueLen += protowire.SizeTag(valueTag) + protowire.SizeBytes(len(tag))
	}
	summaryLen := protowire.SizeTag(summaryValue) + protowire.SizeBytes(valueLen)
	if math.Float64bits(wall) != 0 {
		b = protowire.AppendTag(b, eventWallTime, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(wall))
	}
	if step != 0 {
		b = protowire.AppendTag(b, eventStep, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(step))
	}
	b = protowire.AppendTag(b, eventSummary, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(summaryLen))
	b = protowire.AppendTag(b, summaryValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(valueLen))
	if tag != "" {
		b = protowire.AppendTag(b, valueTag, protowire.BytesType)
		b = protowire.AppendString(b, tag)
	}
	b = protowire.AppendTag(b, valueSimpleValue, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(v))
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
	case KindHistogram:
		if v.Histogram == nil {
			return nil, fmt.Errorf("tfevents: histogram %q has no Histogram", v.Tag)
		}
		b = protowire.AppendTag(b, valueHisto, protowire.BytesType)
		b = protowire.AppendBytes(b, appendHistogram(nil, v.Histogram))
	case KindHParams:
		if v.HParams == nil {
			return nil, fmt.Errorf("tfevents: hparams value %q has no HParams", v.Tag)
		}
		content, err := marshalHParams(v.HParams)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, valueTensor, protowire.BytesType)
		b = protowire.AppendBytes(b, nullTensor())
		return appendMetadata(b, hparamsPlugin, content), nil
	default:
		return nil, fmt.Errorf("tfevents: value %q: cannot encode a value of kind %v", v.Tag, v.Kind)
	}
	if v.Plugin != "" {
		b = appendMetadata(b, v.Plugin, nil)
	}
	return b, nil
}

// appendMetadata appends a value's SummaryMetadata naming plugin, with the
// plugin's content when there is any.
func appendMetadata(b []byte, plugin string, content []byte) []byte {
	var pd []byte
	pd = protowire.AppendTag(pd, pluginDataName, protowire.BytesType)
	pd = protowire.AppendString(pd, plugin)
	if len(content) > 0 {
		pd = protowire.AppendTag(pd, pluginDataContent, protowire.BytesType)
		pd = protowire.AppendBytes(pd, content)
	}
	var md []byte
	md = protowire.AppendTag(md, metadataPluginData, protowire.BytesType)
	md = protowire.AppendBytes(md, pd)
	b = protowire.AppendTag(b, valueMetadata, protowire.BytesType)
	return protowire.AppendBytes(b, md)
}

// nullTensor is the TensorProto TensorBoard's own summaries put in a value
// whose content is all in its metadata (the hparams plugin's): a float32
// scalar 0.
func nullTensor() []byte {
	var t []byte
	t = appendInt(t, tensorDtype, dtFloat)
	t = protowire.AppendTag(t, tensorShape, protowire.BytesType)
	t = protowire.AppendBytes(t, nil)
	t = protowire.AppendTag(t, tensorFloatVal, protowire.BytesType) // packed
	return protowire.AppendBytes(t, protowire.AppendFixed32(nil, 0))
}

// appendInt appends a varint field unless it is zero (proto3 default).
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}
