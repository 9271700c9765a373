package sweeps

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/fomo-grid/grid/internal/study"
)

// Parameter indices, in the canonical order used for labels, names and
// enumeration (so that none depends on how the file orders its keys).
const (
	pSeed = iota
	pShots
	pNCtx
	pWeightStd
	pEpochs
	pLR
	pWarmupLR
	pWarmupEpochs
	pMomentum
	pWeightDecay
	pBatchSize
	pPrecision
	numParams
)

// param describes one tunable value of a training run.
type param struct {
	key   string
	isInt bool
	// choices, when set, makes the parameter a string that must be one of
	// them.
	choices []string
	// check returns what is wrong with a number of the right type, or "".
	check func(v value) string
}

// value holds one parameter value: int for integer parameters, float for
// float parameters, str for string parameters.
type value struct {
	int   int64
	float float64
	str   string
}

// settings is one value per parameter, indexed by the p* constants.
type settings [numParams]value

var params = [numParams]param{
	pSeed:         {key: "seed", isInt: true, check: intAtLeast(0)},
	pShots:        {key: "shots", isInt: true, check: intAtLeast(0)},
	pNCtx:         {key: "n_ctx", isInt: true, check: intAtLeast(1)},
	pWeightStd:    {key: "weight_std", check: floatAbove(0)},
	pEpochs:       {key: "epochs", isInt: true, check: intAtLeast(1)},
	pLR:           {key: "lr", check: floatAbove(0)},
	pWarmupLR:     {key: "warmup_lr", check: floatAtLeast(0)},
	pWarmupEpochs: {key: "warmup_epochs", isInt: true, check: intAtLeast(0)},
	pMomentum:     {key: "momentum", check: momentumRange},
	pWeightDecay:  {key: "weight_decay", check: floatAtLeast(0)},
	pBatchSize:    {key: "batch_size", isInt: true, check: intAtLeast(1)},
	pPrecision:    {key: "precision", choices: precisionChoices()},
}

func precisionChoices() []string {
	out := make([]string, len(study.Precisions))
	for i, p := range study.Precisions {
		out[i] = string(p)
	}
	return out
}

// builtinDefaults is the seed's effective configuration of one run
// (reference semantics §1.2): CoPrompt's trainer config after fomo's
// environment-variable overrides, with their defaults.
var builtinDefaults = settings{
	pSeed:         {int: 1},
	pShots:        {int: 16},
	pNCtx:         {int: 4},
	pWeightStd:    {float: 0.004},
	pEpochs:       {int: 8},
	pLR:           {float: 0.0035},
	pWarmupLR:     {float: 1e-5},
	pWarmupEpochs: {int: 1},
	pMomentum:     {float: 0.9},
	pWeightDecay:  {float: 5e-4},
	pBatchSize:    {int: 4},
	pPrecision:    {str: string(study.PrecisionFP32)},
}

func intAtLeast(lo int64) func(value) string {
	return func(v value) string {
		if v.int < lo {
			return fmt.Sprintf("must be at least %d, got %d", lo, v.int)
		}
		return ""
	}
}

func floatAbove(lo float64) func(value) string {
	return func(v value) string {
		if !(v.float > lo) {
			return fmt.Sprintf("must be greater than %g, got %g", lo, v.float)
		}
		return ""
	}
}

func floatAtLeast(lo float64) func(value) string {
	return func(v value) string {
		if !(v.float >= lo) {
			return fmt.Sprintf("must be at least %g, got %g", lo, v.float)
		}
		return ""
	}
}

func momentumRange(v value) string {
	if !(v.float >= 0 && v.float < 1) {
		return fmt.Sprintf("must be in [0, 1), got %g", v.float)
	}
	return ""
}

// paramIndex returns the index of a parameter key, or -1.
func paramIndex(key string) int {
	for i, p := range params {
		if p.key == key {
			return i
		}
	}
	return -1
}

func paramKeys() string {
	keys := make([]string, numParams)
	for i, p := range params {
		keys[i] = p.key
	}
	return strings.Join(keys, ", ")
}

// decode converts a TOML value to a parameter value, or says why it cannot.
func (p param) decode(v any) (value, string) {
	if p.choices != nil {
		x, ok := v.(string)
		switch {
		case !ok:
			return value{}, fmt.Sprintf("expected a string (one of %s), got %s", strings.Join(p.choices, ", "), describe(v))
		case !slices.Contains(p.choices, x):
			return value{}, fmt.Sprintf("unknown %s %q (want %s)", p.key, x, strings.Join(p.choices, ", "))
		}
		return value{str: x}, ""
	}
	var out value
	switch x := v.(type) {
	case int64:
		if p.isInt {
			out.int = x
		} else {
			out.float = float64(x)
		}
	case float64:
		if p.isInt {
			return value{}, fmt.Sprintf("expected an integer, got float %v", x)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return value{}, fmt.Sprintf("expected a finite number, got %v", x)
		}
		out.float = x
	default:
		if p.isInt {
			return value{}, "expected an integer, got " + describe(v)
		}
		return value{}, "expected a number, got " + describe(v)
	}
	if problem := p.check(out); problem != "" {
		return value{}, problem
	}
	return out, ""
}

// format writes a value compactly: "16", "0.001", "1e-05".
func (p param) format(v value) string {
	if p.choices != nil {
		return v.str
	}
	if p.isInt {
		return strconv.FormatInt(v.int, 10)
	}
	return strconv.FormatFloat(v.float, 'g', -1, 64)
}

// describe names the TOML type of a decoded value, with the value when short.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return "a date/time"
}

// Datasets a train or base2new experiment can train on, in the order the
// seed's scripts list them, and the test-only ImageNet variants that serve
// as transfer targets.
var (
	trainDatasets = []string{
		"demo", "demo_b", "imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers",
		"food101", "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
	}
	testOnlyDatasets = []string{"imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"}
)

func contains[T comparable](list []T, x T) bool { return slices.Contains(list, x) }

// names joins names of any string type for messages: "a, b, c".
func names[T ~string](list []T) string {
	parts := make([]string, len(list))
	for i, x := range list {
		parts[i] = string(x)
	}
	return strings.Join(parts, ", ")
}
