package sweeps

import (
	"encoding/json"
	"math"
	"strconv"
)

// appendConfigJSON appends c's JSON encoding: byte for byte what
// encoding/json writes for it (struct fields in order, omitempty, its float
// and string forms), since the job IDs of every run directory are hashes of
// that encoding. It exists for speed, without reflection: hashing 200,000
// configs was a third of expanding such a grid. TestConfigJSONMatches and
// FuzzConfigJSON hold it to encoding/json; a field added to Config must be
// added here in the same place.
func appendConfigJSON(b []byte, c Config) []byte {
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, string(c.Kind))
	b = appendStringField(b, "model", c.Model, false)
	b = appendStringField(b, "data_root", c.DataRoot, false)
	b = appendStringField(b, "dataset", c.Dataset, false)
	b = appendStringField(b, "classes", string(c.Classes), false)
	b = appendStringField(b, "variant", string(c.Variant), false)
	b = appendIntField(b, "seed", c.Seed, false)
	b = appendIntField(b, "n_ctx", int64(c.NCtx), false)
	b = appendIntField(b, "shots", int64(c.Shots), true)
	b = appendFloatField(b, "weight_std", c.WeightStd)
	b = appendIntField(b, "epochs", int64(c.Epochs), true)
	b = appendFloatField(b, "lr", c.LR)
	b = appendFloatField(b, "warmup_lr", c.WarmupLR)
	b = appendIntField(b, "warmup_epochs", int64(c.WarmupEpochs), true)
	b = appendFloatField(b, "momentum", c.Momentum)
	b = appendFloatField(b, "weight_decay", c.WeightDecay)
	b = appendIntField(b, "batch_size", int64(c.BatchSize), true)
	b = appendStringField(b, "source", c.Source, true)
	b = appendStringField(b, "template", c.Template, true)
	b = appendStringField(b, "precision", string(c.Precision), true)
	return append(b, '}')
}

func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendStringField(b []byte, key, v string, omitEmpty bool) []byte {
	if omitEmpty && v == "" {
		return b
	}
	return appendJSONString(appendKey(b, key), v)
}

func appendIntField(b []byte, key string, v int64, omitEmpty bool) []byte {
	if omitEmpty && v == 0 {
		return b
	}
	return strconv.AppendInt(appendKey(b, key), v, 10)
}

// appendFloatField writes an omitempty float64 as encoding/json does:
// shortest form, 'f' notation unless the exponent is below -6 or at least
// 21, and no leading zero in a negative exponent.
func appendFloatField(b []byte, key string, f float64) []byte {
	if f == 0 {
		return b
	}
	b = appendKey(b, key)
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString writes plain printable ASCII directly and leaves
// anything encoding/json would escape (quotes, backslashes, control
// characters, <, > and &, non-ASCII) to encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
