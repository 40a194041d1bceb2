package tfevents

import (
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// The HParams plugin: its name and the tags its three messages go under, as
// TensorBoard's hparams summary module and PyTorch's add_hparams write them.
const (
	hparamsPlugin = "hparams"

	HParamsExperimentTag = "_hparams_/experiment"
	HParamsStartTag      = "_hparams_/session_start_info"
	HParamsEndTag        = "_hparams_/session_end_info"
)

// HParamsData is one HParamsPluginData message: exactly one of its fields
// is set.
type HParamsData struct {
	Experiment *HParamsExperiment
	Start      *HParamsStart
	End        *HParamsEnd
}

// HParamsExperiment names the hyperparameters and metrics of an experiment,
// the columns of TensorBoard's HParams table.
type HParamsExperiment struct {
	HParams     []HParamInfo
	Metrics     []string // tags of scalar series in the session's own run
	TimeCreated float64  // seconds since the Unix epoch
}

// HParamInfo describes one hyperparameter.
type HParamInfo struct {
	Name string
	Type HParamType
}

// HParamType is the api.proto DataType of a hyperparameter.
type HParamType int

// The hyperparameter types of api.proto.
const (
	HParamUnset HParamType = iota
	HParamString
	HParamBool
	HParamFloat64
)

// HParamsStart is a session's (a run's) hyperparameter values. A value is
// a string, a bool or a float64.
type HParamsStart struct {
	HParams   map[string]any
	StartTime float64 // seconds since the Unix epoch
}

// HParamsEnd says how a session ended.
type HParamsEnd struct {
	Status  SessionStatus
	EndTime float64 // seconds since the Unix epoch
}

// SessionStatus is the api.proto Status of a session.
type SessionStatus int

// The session statuses of api.proto.
const (
	StatusUnknown SessionStatus = iota
	StatusSuccess
	StatusFailure
	StatusRunning
)

// Field numbers from tensorboard/plugins/hparams/{plugin_data,api}.proto and
// google/protobuf/struct.proto.
const (
	hpDataExperiment = 2
	hpDataStart      = 3
	hpDataEnd        = 4

	expDescription = 1
	expTimeCreated = 3
	expHParamInfos = 4
	expMetricInfos = 5

	hpInfoName = 1
	hpInfoType = 4

	metricInfoName = 1
	metricNameTag  = 2

	startHParams   = 1
	startTimeSecs  = 5
	endStatus      = 1
	endTimeSecs    = 2
	pbValueNumber  = 2
	pbValueString  = 3
	pbValueBoolean = 4
)

// hparamType returns the api.proto type of a hyperparameter value.
func hparamType(v any) (HParamType, error) {
	switch v.(type) {
	case string:
		return HParamString, nil
	case bool:
		return HParamBool, nil
	case float64:
		return HParamFloat64, nil
	}
	return 0, fmt.Errorf("hyperparameter value %v is a %T: want a string, bool or float64", v, v)
}

func marshalHParams(d *HParamsData) ([]byte, error) {
	var b []byte
	switch {
	case d.Experiment != nil:
		var e []byte
		for _, h := range d.Experiment.HParams {
			var info []byte
			info = protowire.AppendTag(info, hpInfoName, protowire.BytesType)
			info = protowire.AppendString(info, h.Name)
			info = appendInt(info, hpInfoType, int64(h.Type))
			e = protowire.AppendTag(e, expHParamInfos, protowire.BytesType)
			e = protowire.AppendBytes(e, info)
		}
		for _, m := range d.Experiment.Metrics {
			var name []byte
			name = protowire.AppendTag(name, metricNameTag, protowire.BytesType)
			name = protowire.AppendString(name, m)
			var info []byte
			info = protowire.AppendTag(info, metricInfoName, protowire.BytesType)
			info = protowire.AppendBytes(info, name)
			e = protowire.AppendTag(e, expMetricInfos, protowire.BytesType)
			e = protowire.AppendBytes(e, info)
		}
		e = appendDouble(e, expTimeCreated, d.Experiment.TimeCreated)
		b = protowire.AppendTag(b, hpDataExperiment, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	case d.Start != nil:
		var s []byte
		keys := make([]string, 0, len(d.Start.HParams))
		for k := range d.Start.HParams {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var v []byte
			switch x := d.Start.HParams[k].(type) {
			case string:
				v = protowire.AppendTag(v, pbValueString, protowire.BytesType)
				v = protowire.AppendString(v, x)
			case bool:
				v = protowire.AppendTag(v, pbValueBoolean, protowire.VarintType)
				v = protowire.AppendVarint(v, protowire.EncodeBool(x))
			case float64:
				v = protowire.AppendTag(v, pbValueNumber, protowire.Fixed64Type)
				v = protowire.AppendFixed64(v, math.Float64bits(x))
			default:
				_, err := hparamType(x)
				return nil, fmt.Errorf("tfevents: hparam %q: %w", k, err)
			}
			s = appendAttrLike(s, startHParams, k, v)
		}
		s = appendDouble(s, startTimeSecs, d.Start.StartTime)
		b = protowire.AppendTag(b, hpDataStart, protowire.BytesType)
		b = protowire.AppendBytes(b, s)
	case d.End != nil:
		var e []byte
		e = appendInt(e, endStatus, int64(d.End.Status))
		e = appendDouble(e, endTimeSecs, d.End.EndTime)
		b = protowire.AppendTag(b, hpDataEnd, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	default:
		return nil, fmt.Errorf("tfevents: empty HParamsData")
	}
	return b, nil
}

// appendAttrLike appends one entry of a map<string, message> field.
func appendAttrLike(b []byte, num protowire.Number, key string, value []byte) []byte {
	var e []byte
	e = protowire.AppendTag(e, mapKey, protowire.BytesType)
	e = protowire.AppendString(e, key)
	e = protowire.AppendTag(e, mapValue, protowire.BytesType)
	e = protowire.AppendBytes(e, value)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, e)
}

func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	if math.Float64bits(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

func unmarshalHParams(b []byte) (*HParamsData, error) {
	d := new(HParamsData)
	err := eachField(b, func(f field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case hpDataExperiment:
			e := new(HParamsExperiment)
			d.Experiment = e
			return eachField(f.b, func(f field) error {
				switch {
				case f.num == expTimeCreated && f.typ == protowire.Fixed64Type:
					e.TimeCreated = math.Float64frombits(f.u)
				case f.num == expHParamInfos && f.typ == protowire.BytesType:
					var h HParamInfo
					e.HParams = append(e.HParams, h)
					p := &e.HParams[len(e.HParams)-1]
					return eachField(f.b, func(f field) error {
						switch {
						case f.num == hpInfoName && f.typ == protowire.BytesType:
							p.Name = string(f.b)
						case f.num == hpInfoType && f.typ == protowire.VarintType:
							p.Type = HParamType(f.u)
						}
						return nil
					})
				case f.num == expMetricInfos && f.typ == protowire.BytesType:
					return eachField(f.b, func(f field) error {
						if f.num != metricInfoName || f.typ != protowire.BytesType {
							return nil
						}
						return eachField(f.b, func(f field) error {
							if f.num == metricNameTag && f.typ == protowire.BytesType {
								e.Metrics = append(e.Metrics, string(f.b))
							}
							return nil
						})
					})
				}
				return nil
			})
		case hpDataStart:
			s := &HParamsStart{HParams: map[string]any{}}
			d.Start = s
			return eachField(f.b, func(f field) error {
				switch {
				case f.num == startTimeSecs && f.typ == protowire.Fixed64Type:
					s.StartTime = math.Float64frombits(f.u)
				case f.num == startHParams && f.typ == protowire.BytesType:
					var key string
					var value any
					err := eachField(f.b, func(f field) error {
						switch {
						case f.num == mapKey && f.typ == protowire.BytesType:
							key = string(f.b)
						case f.num == mapValue && f.typ == protowire.BytesType:
							return eachField(f.b, func(f field) error {
								switch {
								case f.num == pbValueNumber && f.typ == protowire.Fixed64Type:
									value = math.Float64frombits(f.u)
								case f.num == pbValueString && f.typ == protowire.BytesType:
									value = string(f.b)
								case f.num == pbValueBoolean && f.typ == protowire.VarintType:
									value = f.u != 0
								}
								return nil
							})
						}
						return nil
					})
					s.HParams[key] = value
					return err
				}
				return nil
			})
		case hpDataEnd:
			e := new(HParamsEnd)
			d.End = e
			return eachField(f.b, func(f field) error {
				switch {
				case f.num == endStatus && f.typ == protowire.VarintType:
					e.Status = SessionStatus(f.u)
				case f.num == endTimeSecs && f.typ == protowire.Fixed64Type:
					e.EndTime = math.Float64frombits(f.u)
				}
				return nil
			})
		}
		return nil
	})
	return d, err
}

// HParams writes a run's hyperparameters for TensorBoard's HParams tab: the
// experiment (the hyperparameters' names and types, and metrics, the tags
// of scalar series of this run whose last values the table shows) and the
// session start with the values. Values are strings, bools or float64s.
// Call HParamsEnd when the run ends.
func (w *Writer) HParams(hparams map[string]any, metrics []string) error {
	now := w.wallTime()
	exp := &HParamsExperiment{Metrics: metrics, TimeCreated: now}
	keys := make([]string, 0, len(hparams))
	for k := range hparams {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t, err := hparamType(hparams[k])
		if err != nil {
			return fmt.Errorf("tfevents: hparam %q: %w", k, err)
		}
		exp.HParams = append(exp.HParams, HParamInfo{Name: k, Type: t})
	}
	return w.WriteEvent(Event{Values: []Value{
		{Tag: HParamsExperimentTag, Kind: KindHParams, HParams: &HParamsData{Experiment: exp}},
		{Tag: HParamsStartTag, Kind: KindHParams, HParams: &HParamsData{Start: &HParamsStart{HParams: hparams, StartTime: now}}},
	}})
}

// HParamsEnd records how the run that HParams described ended.
func (w *Writer) HParamsEnd(status SessionStatus) error {
	end := &HParamsEnd{Status: status, EndTime: w.wallTime()}
	return w.WriteEvent(Event{Values: []Value{{Tag: HParamsEndTag, Kind: KindHParams, HParams: &HParamsData{End: end}}}})
}

// wallTime is the writer clock's time in seconds since the Unix epoch.
func (w *Writer) wallTime() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return float64(w.now().UnixNano()) / 1e9
}
