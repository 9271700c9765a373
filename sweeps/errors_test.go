package sweeps

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Each case's source marks the line the error must point at with "#<".
func TestErrors(t *testing.T) {
	const experiment = `[[experiment]]
name = "e"
protocol = "base2new"
datasets = ["eurosat"]
`
	cases := []struct {
		name       string
		src        string
		experiment string // experiment named in the message
		key        string
		msg        string // part of the message
	}{
		{"syntax: unclosed header", header + "[[experiment] #<\n", "", "", "expected end of table array name"},
		{"syntax: missing value", header + "workers = #<\n", "", "grid.workers", "expected value"},
		{"syntax: duplicate key", header + "name = \"again\" #<\n", "", "grid.name", "already been defined"},
		{"unknown top-level table", header + "[gird] #<\nx = 1\n" + experiment, "", "gird", "unknown key"},
		{"unknown grid key", header + "wrokers = 2 #<\n" + experiment, "", "grid.wrokers", "unknown key"},
		{"missing grid.name", "[grid] #<\nmodel = \"m\"\ndata_root = \"d\"\n" + experiment, "", "grid.name", "missing"},
		{"missing grid.model", "[grid] #<\nname = \"n\"\ndata_root = \"d\"\n" + experiment, "", "grid.model", "missing"},
		{"grid.workers string", header + "workers = \"2\" #<\n" + experiment, "", "grid.workers", `expected an integer, got string "2"`},
		{"bad backend name", header + "backend = \"CUDA 12\" #<\n" + experiment, "", "grid.backend", `bad backend "CUDA 12"`},
		{"grid.retries negative", header + "retries = -1 #<\n" + experiment, "", "grid.retries", "at least 0"},
		{"bad grid name", "[grid]\nname = \"a b\" #<\nmodel = \"m\"\ndata_root = \"d\"\n" + experiment, "", "grid.name", "bad name"},
		{"no experiments", header + "[defaults]\nseed = 1\n", "", "experiment", "no experiments"},
		{"experiment as plain table", header + "[experiment] #<\nname = \"e\"\n", "", "experiment", "array of tables ([[experiment]])"},
		{"defaults out of range", header + "[defaults]\nmomentum = 1.5 #<\n" + experiment, "", "defaults.momentum", "must be in [0, 1)"},
		{"defaults unknown parameter", header + "[defaults]\nepoch = 1 #<\n" + experiment, "", "defaults.epoch", "unknown parameter"},
		{"missing experiment name", header + "[[experiment]] #<\nprotocol = \"train\"\ndatasets = [\"demo\"]\n", "", "experiment.name", "missing"},
		{"duplicate experiment name", header + experiment + "[[experiment]]\nname = \"e\" #<\nprotocol = \"train\"\ndatasets = [\"demo\"]\n",
			"", "experiment.name", `duplicate experiment name "e" (first at line 6)`},
		{"grid too large", header + "[[experiment]]\nname = \"huge\" #<\nprotocol = \"base2new\"\ndatasets = [\"demo\", \"dtd\"]\n[experiment.axes]\n" +
			"seed = [" + intList(1, 1000) + "]\nshots = [" + intList(1, 1000) + "]\n",
			"huge", "name", "the grid expands to more than 2000000 jobs (this experiment alone: 2000000 cells); split it"},
		{"missing protocol", header + "[[experiment]] #<\nname = \"e\"\ndatasets = [\"demo\"]\n", "e", "protocol", "missing"},
		{"unknown protocol", header + "[[experiment]]\nname = \"e\"\nprotocol = \"b2n\" #<\n", "e", "protocol", `unknown protocol "b2n"`},
		{"unknown experiment key", header + experiment + "sets = 1 #<\n", "e", "sets", "unknown key"},
		{"key of another protocol", header + experiment + "targets = [\"dtd\"] #<\n", "e", "targets", "not used by protocol base2new"},
		{"axes in transfer", header + experiment + "[[experiment]]\nname = \"x\"\nprotocol = \"transfer\"\nfrom = \"e\"\ntargets = [\"dtd\"]\n[experiment.axes] #<\nseed = [1]\n",
			"x", "axes", "not used by protocol transfer"},
		{"missing datasets", header + "[[experiment]] #<\nname = \"e\"\nprotocol = \"train\"\n", "e", "datasets", "missing"},
		{"datasets not a list", header + "[[experiment]]\nname = \"e\"\nprotocol = \"train\"\ndatasets = \"demo\" #<\n", "e", "datasets", `expected a list, got string "demo"`},
		{"unknown dataset", header + "[[experiment]]\nname = \"e\"\nprotocol = \"train\"\ndatasets = [\n  \"demo\",\n  \"cifar10\", #<\n]\n",
			"e", "datasets", `unknown dataset "cifar10"`},
		{"test-only dataset trained on", header + "[[experiment]]\nname = \"e\"\nprotocol = \"train\"\ndatasets = [\"imagenet_a\"] #<\n",
			"e", "datasets", "test-only dataset"},
		{"duplicate dataset", header + "[[experiment]]\nname = \"e\"\nprotocol = \"train\"\ndatasets = [\"dtd\", \"dtd\"] #<\n", "e", "datasets", "listed twice"},
		{"unknown variant", header + experiment + "variants = [\"noshare\"] #<\n", "e", "variants", `unknown variant "noshare"`},
		{"full listed as variant", header + experiment + "variants = [\"full\"] #<\n", "e", "variants", "always runs"},
		{"unknown classes", header + "[[experiment]]\nname = \"e\"\nprotocol = \"train\"\ndatasets = [\"dtd\"]\nclasses = \"new\" #<\n",
			"e", "classes", `unknown classes "new"`},
		{"set value is a list", header + experiment + "[experiment.set]\nn_ctx = [1, 2] #<\n", "e", "set.n_ctx", "expected a single value, got a list"},
		{"set float where int", header + experiment + "[experiment.set]\nepochs = 8.5 #<\n", "e", "set.epochs", "expected an integer, got float 8.5"},
		{"set string where number", header + experiment + "[experiment.set]\nlr = \"0.1\" #<\n", "e", "set.lr", `expected a number, got string "0.1"`},
		{"set unknown parameter", header + experiment + "[experiment.set]\nnum_context = 2 #<\n", "e", "set.num_context", "unknown parameter"},
		{"empty axis", header + experiment + "[experiment.axes]\nseed = [1]\nn_ctx = [] #<\n", "e", "axes.n_ctx", "empty axis"},
		{"axis not a list", header + experiment + "[experiment.axes]\nn_ctx = 2 #<\n", "e", "axes.n_ctx", "expected a list of values, got integer 2"},
		{"axis element wrong type", header + experiment + "[experiment.axes]\nweight_std = [\n  0.001,\n  \"0.012\", #<\n]\n",
			"e", "axes.weight_std", `element 2: expected a number, got string "0.012"`},
		{"axis float where int", header + experiment + "[experiment.axes]\nepochs = [8, 16.5] #<\n", "e", "axes.epochs", "element 2: expected an integer, got float 16.5"},
		{"axis duplicate value", header + experiment + "[experiment.axes]\nepochs = [8, 8] #<\n", "e", "axes.epochs", "element 2: 8 is listed twice"},
		{"axis value out of range", header + experiment + "[experiment.axes]\nn_ctx = [0, 1] #<\n", "e", "axes.n_ctx", "must be at least 1"},
		{"quoted axis key", header + experiment + "[experiment.axes]\n\"n_ctx\" = [] #<\n", "e", "axes.n_ctx", "empty axis"},
		{"unknown axis parameter, second experiment", header + experiment + "[[experiment]]\nname = \"f\"\nprotocol = \"train\"\ndatasets = [\"dtd\"]\n[experiment.axes]\nnctx = [1] #<\n",
			"f", "axes.nctx", "unknown parameter"},
		{"key in set and axes", header + experiment + "[experiment.set]\nn_ctx = 2\n[experiment.axes]\nn_ctx = [1, 2] #<\n", "e", "axes.n_ctx", "also fixed in set"},
		{"key in axes and zip", header + experiment + "[experiment.axes]\nlr = [0.1]\n[[experiment.zip]]\nlr = [0.1, 0.2] #<\nepochs = [1, 2]\n",
			"e", "zip.lr", "already swept at line 10 (axes.lr)"},
		{"zip lengths differ", header + experiment + "[[experiment.zip]]\nlr = [0.1, 0.2]\nepochs = [1, 2, 3] #<\n", "e", "zip.epochs", "has 3 values but lr has 2"},
		{"zip lengths differ, second zip", header + experiment + "[[experiment.zip]]\nlr = [0.1, 0.2]\nepochs = [1, 2]\n[[experiment.zip]]\nseed = [1]\nn_ctx = [1, 2] #<\n",
			"e", "zip.n_ctx", "has 2 values but seed has 1"},
		{"zip empty list", header + experiment + "[[experiment.zip]]\nlr = [] #<\n", "e", "zip.lr", "empty axis"},
		{"zip repeated pair", header + experiment + "[[experiment.zip]] #<\nlr = [0.1, 0.1]\nepochs = [1, 1]\n", "e", "zip", "positions 1 and 2 hold the same values"},
		{"zip unknown parameter", header + experiment + "[[experiment.zip]]\nlr = [0.1]\nrate = [1] #<\n", "e", "zip.rate", "unknown parameter"},
		{"exclude key is no axis", header + experiment + "[experiment.axes]\nn_ctx = [1, 2]\n[[experiment.exclude]]\nepochs = 16 #<\n",
			"e", "exclude.epochs", "not an axis of this experiment"},
		{"exclude value not on axis", header + experiment + "[experiment.axes]\nn_ctx = [1, 2]\n[[experiment.exclude]]\nn_ctx = 3 #<\n",
			"e", "exclude.n_ctx", "3 is not a value of the n_ctx axis"},
		{"exclude variant without variants", header + experiment + "[experiment.axes]\nn_ctx = [1, 2]\n[[experiment.exclude]]\nvariant = \"noshared\" #<\n",
			"e", "exclude.variant", "no variants"},
		{"exclude unknown key", header + experiment + "[experiment.axes]\nn_ctx = [1, 2]\n[[experiment.exclude]]\nn_ctx = 1\ncolour = 1 #<\n",
			"e", "exclude.colour", "unknown key"},
		{"exclude dataset not listed", header + experiment + "[[experiment.exclude]]\ndataset = \"dtd\" #<\n", "e", "exclude.dataset", "not among this experiment's datasets"},
		{"override of unlisted dataset", header + experiment + "[experiment.dataset.imagenet] #<\nepochs = 32\n", "e", "dataset.imagenet", "not among this experiment's datasets"},
		{"override unknown parameter", header + experiment + "[experiment.dataset.eurosat]\nepoch = 32 #<\n", "e", "dataset.eurosat.epoch", "unknown parameter"},
		{"override wrong type", header + experiment + "[experiment.dataset.eurosat]\nepochs = \"32\" #<\n", "e", "dataset.eurosat.epochs", "expected an integer"},
		{"new classes of a test-only target", header + experiment + "[[experiment]]\nname = \"x\"\nprotocol = \"transfer\"\nfrom = \"e\"\ntargets = [\"dtd\", \"imagenet_a\"]\nclasses = \"new\" #<\n",
			"x", "classes", "imagenet_a, a test-only dataset"},
		{"transfer from missing experiment", header + experiment + "[[experiment]]\nname = \"x\"\nprotocol = \"transfer\"\nfrom = \"nope\" #<\ntargets = [\"dtd\"]\n",
			"x", "from", `no experiment named "nope"`},
		{"transfer from a transfer", header + experiment + "[[experiment]]\nname = \"x\"\nprotocol = \"transfer\"\nfrom = \"e\"\ntargets = [\"dtd\"]\n" +
			"[[experiment]]\nname = \"y\"\nprotocol = \"transfer\"\nfrom = \"x\" #<\ntargets = [\"dtd\"]\n", "y", "from", "is itself a transfer"},
		{"transfer missing targets", header + experiment + "[[experiment]] #<\nname = \"x\"\nprotocol = \"transfer\"\nfrom = \"e\"\n", "x", "targets", "missing"},
		{"transfer unknown variant", header + experiment + "[[experiment]]\nname = \"x\"\nprotocol = \"transfer\"\nfrom = \"e\"\ntargets = [\"dtd\"]\nvariant = \"projfree\" #<\n",
			"x", "variant", `unknown variant "projfree"`},
		{"zeroshot template without {}", header + "[[experiment]]\nname = \"z\"\nprotocol = \"zeroshot\"\ndatasets = [\"dtd\"]\ntemplate = \"a photo of a\" #<\n",
			"z", "template", "exactly one {}"},
		{"zeroshot template with two {}", header + "[[experiment]]\nname = \"z\"\nprotocol = \"zeroshot\"\ndatasets = [\"dtd\"]\ntemplate = \"{} of {}\" #<\n",
			"z", "template", "exactly one {}"},
		{"zeroshot unknown classes", header + "[[experiment]]\nname = \"z\"\nprotocol = \"zeroshot\"\ndatasets = [\"dtd\"]\nclasses = [\"base\", \"old\"] #<\n",
			"z", "classes", `unknown classes "old"`},
		{"zeroshot half of a test-only dataset", header + "[[experiment]] #<\nname = \"z\"\nprotocol = \"zeroshot\"\ndatasets = [\"imagenet_a\"]\n",
			"z", "classes", "test-only"},
		{"zeroshot with axes", header + "[[experiment]]\nname = \"z\"\nprotocol = \"zeroshot\"\ndatasets = [\"dtd\"]\n[experiment.axes] #<\nseed = [1, 2]\n",
			"z", "axes", "not used by protocol zeroshot"},
		{"transfer from a zeroshot", header + "[[experiment]]\nname = \"z\"\nprotocol = \"zeroshot\"\ndatasets = [\"dtd\"]\n" +
			"[[experiment]]\nname = \"y\"\nprotocol = \"transfer\"\nfrom = \"z\" #<\ntargets = [\"dtd\"]\n", "y", "from", "zero-shot and trains nothing"},
		{"slurm unknown key", header + experiment + "[slurm]\npartiton = \"gpu\" #<\n", "", "slurm.partiton", "unknown key"},
		{"slurm bad time", header + experiment + "[slurm]\ntime = \"2h\" #<\n", "", "slurm.time", `bad time "2h"`},
		{"slurm bad memory", header + experiment + "[slurm]\nmem = \"16GB\" #<\n", "", "slurm.mem", `bad memory "16GB"`},
		{"slurm gpus negative", header + experiment + "[slurm]\ngpus = -1 #<\n", "", "slurm.gpus", "at least 0"},
		{"slurm jobs_per_task zero", header + experiment + "[slurm]\njobs_per_task = 0 #<\n", "", "slurm.jobs_per_task", "at least 1"},
		{"slurm stage key wrong type", header + experiment + "[slurm]\ntime = \"60\"\n[slurm.train]\ncpus = \"8\" #<\n", "", "slurm.train.cpus", "expected an integer"},
		{"slurm stage unknown key", header + experiment + "[slurm.eval]\nmax_array_size = 10 #<\n", "", "slurm.eval.max_array_size", "unknown key"},
		{"slurm extra owned by grid", header + experiment + "[slurm]\nextra = [\"--qos=high\", \"--array=0-3\"] #<\n", "", "slurm.extra", "grid sets --array itself"},
		{"slurm extra not an option", header + experiment + "[slurm]\nextra = [\"qos=high\"] #<\n", "", "slurm.extra", "as on the command line"},
		{"slurm signal after limit", header + experiment + "[slurm]\ntime = \"2\"\n[slurm.merge]\nsignal_seconds = 120 #<\n", "", "slurm.merge.signal_seconds", `not less than the time limit "2"`},
		{"transfer unknown target", header + experiment + "[[experiment]]\nname = \"x\"\nprotocol = \"transfer\"\nfrom = \"e\"\ntargets = [\"imagenet-a\"] #<\n",
			"x", "targets", `unknown dataset "imagenet-a"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("grid.toml", []byte(c.src))
			var gerr *Error
			if !errors.As(err, &gerr) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			wantLine := markedLine(c.src)
			if gerr.File != "grid.toml" || gerr.Line != wantLine || gerr.Experiment != c.experiment || gerr.Key != c.key || !strings.Contains(gerr.Msg, c.msg) {
				t.Errorf("got %+v\nwant line %d, experiment %q, key %q, message containing %q", *gerr, wantLine, c.experiment, c.key, c.msg)
			}
			prefix := "grid.toml"
			if wantLine > 0 {
				prefix += fmt.Sprintf(":%d", wantLine)
			}
			if c.experiment != "" {
				prefix += fmt.Sprintf(": experiment %q", c.experiment)
			}
			if c.key != "" {
				prefix += ": " + c.key
			}
			if s := err.Error(); !strings.HasPrefix(s, prefix+": ") || !strings.Contains(s, c.msg) {
				t.Errorf("Error() = %q, want prefix %q and %q", s, prefix, c.msg)
			}
		})
	}
}

// markedLine is the 1-based line holding "#<", or 0 if none does.
func markedLine(src string) int {
	for i, line := range strings.Split(src, "\n") {
		if strings.Contains(line, "#<") {
			return i + 1
		}
	}
	return 0
}

func TestErrorWithoutGridTable(t *testing.T) {
	_, err := Parse("g.toml", []byte("[[experiment]]\nname = \"e\"\nprotocol = \"train\"\ndatasets = [\"demo\"]\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "g.toml: grid.name: missing") {
		t.Errorf("error %v, want g.toml: grid.name: missing ...", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load("no/such/grid.toml"); err == nil || !strings.Contains(err.Error(), "no/such/grid.toml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// intList is "lo, lo+1, ..., hi".
func intList(lo, hi int) string {
	parts := make([]string, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		parts = append(parts, fmt.Sprint(i))
	}
	return strings.Join(parts, ", ")
}
