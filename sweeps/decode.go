package sweeps

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/fomo-grid/grid/internal/study"
)

// gridFile is a grid file after validation, before expansion.
type gridFile struct {
	name, out, model, dataRoot string
	backend                    string
	workers, retries, gpuSlots int
	jobTimeout                 time.Duration
	defaults                   settings
	slurm                      Slurm
	experiments                []*experiment
	jobBound                   int // at least the number of jobs it expands to (checkSize)
}

// experiment is one validated [[experiment]] table.
type experiment struct {
	name      string
	nameScope scope // its name key: where errors about the whole experiment point
	protocol  study.Protocol
	from      scope // the "from" key, for errors found once all experiments are read

	// train and base2new
	datasets  []string
	variants  []study.Variant
	classes   study.Classes
	set       map[int]value
	axes      []axis
	swept     []int // the parameters axes sweep, canonical order (sweptParams)
	excludes  []exclude
	overrides map[string]map[int]value // dataset -> parameter -> value

	// zeroshot
	template  string          // "" means each dataset's default template
	classList []study.Classes // the classes each dataset is tested on

	// transfer
	source       string // the experiment named by from
	targets      []string
	variant      study.Variant // "" means the source job's variant
	variantGiven bool
}

// axis is one dimension of an experiment's product: a single parameter of
// [experiment.axes], or the parameters of one [[experiment.zip]] table, which
// advance together.
type axis struct {
	keys   []int     // parameter indices, canonical order
	values [][]value // values[k][i]: the i-th value of keys[k]
	where  []scope   // where each key is written
	zip    bool
}

func (a axis) size() int { return len(a.values[0]) }

// exclude drops the cells whose values match all of its entries.
type exclude struct {
	dataset string        // "" matches any dataset
	variant study.Variant // "" matches any variant
	params  map[int]value
	where   map[string]scope
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// backendRE is the form of a backend name.
var backendRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

const nameRule = "use letters, digits, '.', '_' and '-', starting with a letter or digit"

type decoder struct {
	file  string
	lines keyLines
}

// scope is a place in the document: a table, key or list element. It knows
// its full path (to find the line) and how to name itself in messages.
type scope struct {
	d    *decoder
	exp  string // experiment name, "" outside experiments
	path string // full path, e.g. experiment[1].axes.n_ctx
	key  string // key shown in messages, relative to the experiment
}

func (s scope) child(k string) scope {
	return scope{d: s.d, exp: s.exp, path: joinPath(s.path, k), key: joinPath(s.key, k)}
}

// element is the i-th element of a list; messages keep naming the list.
func (s scope) element(i int) scope {
	return scope{d: s.d, exp: s.exp, path: elementPath(s.path, i), key: s.key}
}

func (s scope) line() int { return s.d.lines.find(s.path) }

func (s scope) errorf(format string, args ...any) *Error {
	return &Error{File: s.d.file, Line: s.line(), Experiment: s.exp, Key: s.key, Msg: fmt.Sprintf(format, args...)}
}

// keys lists a table's keys in the order they are written, so that the first
// error reported is the first one in the file.
func (s scope) keys(table map[string]any) []string {
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := s.d.lines.find(joinPath(s.path, keys[i])), s.d.lines.find(joinPath(s.path, keys[j]))
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

func (s scope) table(v any) (map[string]any, error) {
	if t, ok := v.(map[string]any); ok {
		return t, nil
	}
	return nil, s.errorf("expected a table, got %s", describe(v))
}

// tables accepts [[a.b]] arrays of tables and inline lists of tables.
func (s scope) tables(v any) ([]map[string]any, error) {
	switch x := v.(type) {
	case []map[string]any:
		return x, nil
	case []any:
		out := make([]map[string]any, len(x))
		for i, e := range x {
			t, ok := e.(map[string]any)
			if !ok {
				return nil, s.element(i).errorf("expected a table, got %s", describe(e))
			}
			out[i] = t
		}
		return out, nil
	}
	return nil, s.errorf("expected an array of tables ([[%s]]), got %s", elementIndexRE.ReplaceAllString(s.path, ""), describe(v))
}

var elementIndexRE = regexp.MustCompile(`\[\d+\]`)

func (s scope) list(v any) ([]any, error) {
	if l, ok := v.([]any); ok {
		return l, nil
	}
	return nil, s.errorf("expected a list, got %s", describe(v))
}

func (s scope) str(v any) (string, error) {
	if x, ok := v.(string); ok {
		return x, nil
	}
	return "", s.errorf("expected a string, got %s", describe(v))
}

// duration reads a positive duration written as Go spells one: "90m", "2h",
// "1h30m".
func (s scope) duration(v any) (time.Duration, error) {
	text, err := s.str(v)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(text)
	if err != nil || d <= 0 {
		return 0, s.errorf("bad duration %q: write a positive number with a unit, e.g. \"90m\" or \"2h\"", text)
	}
	return d, nil
}

func (s scope) integer(v any, least int64) (int, error) {
	x, ok := v.(int64)
	if !ok {
		return 0, s.errorf("expected an integer, got %s", describe(v))
	}
	if x < least {
		return 0, s.errorf("must be at least %d, got %d", least, x)
	}
	return int(x), nil
}

// oneOf reads a string that must be one of allowed.
func oneOf[T ~string](s scope, v any, what string, allowed []T) (T, error) {
	x, err := s.str(v)
	if err != nil {
		return "", err
	}
	if !contains(allowed, T(x)) {
		return "", s.errorf("unknown %s %q (want %s)", what, x, names(allowed))
	}
	return T(x), nil
}

// stringList reads a non-empty list of distinct strings, each checked by valid.
func (s scope) stringList(v any, valid func(scope, string) error) ([]string, error) {
	l, err := s.list(v)
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, s.errorf("empty list")
	}
	out := make([]string, len(l))
	for i, e := range l {
		es := s.element(i)
		x, ok := e.(string)
		if !ok {
			return nil, es.errorf("element %d: expected a string, got %s", i+1, describe(e))
		}
		if contains(out[:i], x) {
			return nil, es.errorf("element %d: %q is listed twice", i+1, x)
		}
		if err := valid(es, x); err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// param reads one parameter value.
func (s scope) param(p int, v any) (value, error) {
	if _, isList := v.([]any); isList {
		return value{}, s.errorf("expected a single value, got a list (sweep values in [experiment.axes])")
	}
	x, problem := params[p].decode(v)
	if problem != "" {
		return value{}, s.errorf("%s", problem)
	}
	return x, nil
}

// paramList reads the values of an axis or zip list.
func (s scope) paramList(p int, v any, distinct bool) ([]value, error) {
	l, err := s.list(v)
	if err != nil {
		return nil, s.errorf("expected a list of values, got %s", describe(v))
	}
	if len(l) == 0 {
		return nil, s.errorf("empty axis")
	}
	out := make([]value, len(l))
	for i, e := range l {
		x, problem := params[p].decode(e)
		if problem != "" {
			return nil, s.element(i).errorf("element %d: %s", i+1, problem)
		}
		if distinct {
			for _, y := range out[:i] {
				if x == y {
					return nil, s.element(i).errorf("element %d: %s is listed twice", i+1, params[p].format(x))
				}
			}
		}
		out[i] = x
	}
	return out, nil
}

// paramTable reads a table of parameter = value ([defaults], set, dataset
// overrides).
func (s scope) paramTable(v any) (map[int]value, error) {
	t, err := s.table(v)
	if err != nil {
		return nil, err
	}
	out := map[int]value{}
	for _, k := range s.keys(t) {
		ks := s.child(k)
		p := paramIndex(k)
		if p < 0 {
			return nil, ks.errorf("unknown parameter (known: %s)", paramKeys())
		}
		x, err := ks.param(p, t[k])
		if err != nil {
			return nil, err
		}
		out[p] = x
	}
	return out, nil
}

func validDataset(training bool) func(scope, string) error {
	return func(s scope, ds string) error {
		switch {
		case contains(trainDatasets, ds):
			return nil
		case contains(testOnlyDatasets, ds):
			if training {
				return s.errorf("%s is a test-only dataset; use it in the targets of a transfer experiment", ds)
			}
			return nil
		}
		return s.errorf("unknown dataset %q (known: %s)", ds, strings.Join(append(append([]string{}, trainDatasets...), testOnlyDatasets...), ", "))
	}
}

func (d *decoder) decodeFile(doc map[string]any) (*gridFile, error) {
	root := scope{d: d}
	for _, k := range root.keys(doc) {
		switch k {
		case "grid", "defaults", "experiment", "slurm":
		default:
			return nil, root.child(k).errorf("unknown key (a grid file holds [grid], [defaults], [[experiment]] and [slurm] tables)")
		}
	}
	f := &gridFile{defaults: builtinDefaults, workers: 1, gpuSlots: 1}
	if err := d.decodeGrid(root.child("grid"), doc["grid"], f); err != nil {
		return nil, err
	}
	if v, ok := doc["defaults"]; ok {
		defaults, err := root.child("defaults").paramTable(v)
		if err != nil {
			return nil, err
		}
		for p, x := range defaults {
			f.defaults[p] = x
		}
	}
	if v, ok := doc["slurm"]; ok {
		var err error
		if f.slurm, err = d.decodeSlurm(root.child("slurm"), v); err != nil {
			return nil, err
		}
	}
	v, ok := doc["experiment"]
	if !ok {
		return nil, root.child("experiment").errorf("no experiments; add an [[experiment]] table")
	}
	es := root.child("experiment")
	tables, err := es.tables(v)
	if err != nil {
		return nil, err
	}
	if len(tables) == 0 {
		return nil, es.errorf("no experiments; add an [[experiment]] table")
	}
	firstLine := map[string]int{}
	for i, t := range tables {
		e, err := d.decodeExperiment(es.element(i), t, firstLine)
		if err != nil {
			return nil, err
		}
		f.experiments = append(f.experiments, e)
	}
	// A transfer may name an experiment written after it.
	for _, e := range f.experiments {
		if e.protocol != study.ProtocolTransfer {
			continue
		}
		var source *experiment
		for _, o := range f.experiments {
			if o.name == e.source {
				source = o
			}
		}
		switch {
		case source == nil:
			return nil, e.from.errorf("no experiment named %q in this file", e.source)
		case source.protocol == study.ProtocolTransfer:
			return nil, e.from.errorf("experiment %q is itself a transfer; from must name a train or base2new experiment", e.source)
		case source.protocol == study.ProtocolZeroShot:
			return nil, e.from.errorf("experiment %q is zero-shot and trains nothing; from must name a train or base2new experiment", e.source)
		}
	}
	if err := f.checkSize(); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *decoder) decodeGrid(s scope, v any, f *gridFile) error {
	if v == nil {
		return &Error{File: d.file, Key: "grid.name", Msg: "missing; a grid file starts with a [grid] table holding name = \"...\""}
	}
	t, err := s.table(v)
	if err != nil {
		return err
	}
	for _, k := range s.keys(t) {
		ks := s.child(k)
		var err error
		switch k {
		case "name":
			f.name, err = ks.str(t[k])
			if err == nil && !nameRE.MatchString(f.name) {
				err = ks.errorf("bad name %q: %s", f.name, nameRule)
			}
		case "out":
			f.out, err = ks.str(t[k])
			if err == nil && f.out == "" {
				err = ks.errorf("empty path")
			}
		case "model":
			f.model, err = ks.str(t[k])
			if err == nil && f.model == "" {
				err = ks.errorf("empty path")
			}
		case "data_root":
			f.dataRoot, err = ks.str(t[k])
			if err == nil && f.dataRoot == "" {
				err = ks.errorf("empty path")
			}
		case "workers":
			f.workers, err = ks.integer(t[k], 1)
		case "retries":
			f.retries, err = ks.integer(t[k], 0)
		case "backend":
			// Which backends exist is the binary's business (cmd/grid
			// checks the name); here it only has to be a name.
			f.backend, err = ks.str(t[k])
			if err == nil && !backendRE.MatchString(f.backend) {
				err = ks.errorf("bad backend %q: a backend name such as \"auto\", \"cpu\" or \"cuda\"", f.backend)
			}
		case "job_timeout":
			f.jobTimeout, err = ks.duration(t[k])
		case "gpu_slots":
			f.gpuSlots, err = ks.integer(t[k], 1)
		default:
			err = ks.errorf("unknown key (known: name, out, model, data_root, workers, retries, backend, job_timeout, gpu_slots)")
		}
		if err != nil {
			return err
		}
	}
	for _, required := range []struct {
		key   string
		value string
	}{{"name", f.name}, {"model", f.model}, {"data_root", f.dataRoot}} {
		if required.value == "" {
			return s.child(required.key).errorf("missing")
		}
	}
	if f.out == "" {
		f.out = path.Join("runs", f.name)
	}
	return nil
}

var protocols = []study.Protocol{study.ProtocolBase2New, study.ProtocolTrain, study.ProtocolTransfer, study.ProtocolZeroShot}

// experimentKeys lists the keys each protocol accepts besides name and protocol.
var experimentKeys = map[study.Protocol][]string{
	study.ProtocolBase2New: {"datasets", "variants", "set", "axes", "zip", "exclude", "dataset"},
	study.ProtocolTrain:    {"datasets", "variants", "set", "axes", "zip", "exclude", "dataset", "classes"},
	study.ProtocolTransfer: {"from", "targets", "variant", "classes"},
	study.ProtocolZeroShot: {"datasets", "classes", "template"},
}

func (d *decoder) decodeExperiment(s scope, t map[string]any, firstLine map[string]int) (*experiment, error) {
	e, s, err := decodeExperimentHead(s, t, firstLine)
	if err != nil {
		return nil, err
	}
	tables, err := e.decodeKeys(s, t)
	if err != nil {
		return nil, err
	}
	for i, z := range tables.zips {
		if err := e.decodeZip(tables.zipScope.element(i), z); err != nil {
			return nil, err
		}
	}
	switch e.protocol {
	case study.ProtocolTransfer:
		return e, e.checkTransfer(s, t)
	case study.ProtocolZeroShot:
		return e, e.checkZeroShot(s, t)
	}
	return e, e.checkCells(s, t, tables)
}

// decodeExperimentHead reads an experiment's name and protocol; messages
// name the experiment, so its name comes first. The scope returned names it.
func decodeExperimentHead(s scope, t map[string]any, firstLine map[string]int) (*experiment, scope, error) {
	s.key = ""
	nameScope := s.child("name")
	nameScope.key = "experiment.name"
	v, ok := t["name"]
	if !ok {
		return nil, s, nameScope.errorf("missing")
	}
	name, err := nameScope.str(v)
	if err != nil {
		return nil, s, err
	}
	if !nameRE.MatchString(name) {
		return nil, s, nameScope.errorf("bad name %q: %s", name, nameRule)
	}
	if line, dup := firstLine[name]; dup {
		return nil, s, nameScope.errorf("duplicate experiment name %q (first at line %d)", name, line)
	}
	firstLine[name] = nameScope.line()
	s.exp = name
	e := &experiment{name: name, nameScope: s.child("name"), set: map[int]value{}, overrides: map[string]map[int]value{}}

	v, ok = t["protocol"]
	if !ok {
		return nil, s, s.child("protocol").errorf("missing (%s)", names(protocols))
	}
	if e.protocol, err = oneOf(s.child("protocol"), v, "protocol", protocols); err != nil {
		return nil, s, err
	}
	switch e.protocol {
	case study.ProtocolTrain:
		e.classes = study.ClassesBase
	case study.ProtocolTransfer:
		e.classes = study.ClassesAll
	}
	return e, s, nil
}

// laterTables are the zip and exclude tables of an experiment, decoded once
// every other key is (they refer to the axes).
type laterTables struct {
	zipScope, excludeScope scope
	zips, excludes         []map[string]any
}

// decodeKeys reads every key of an experiment besides name and protocol,
// refusing keys its protocol does not use.
func (e *experiment) decodeKeys(s scope, t map[string]any) (laterTables, error) {
	var later laterTables
	for _, k := range s.keys(t) {
		ks := s.child(k)
		if k == "name" || k == "protocol" {
			continue
		}
		if err := e.checkKeyUsed(ks, k); err != nil {
			return later, err
		}
		var err error
		switch k {
		case "datasets":
			e.datasets, err = ks.stringList(t[k], validDataset(e.protocol != study.ProtocolZeroShot))
		case "targets":
			e.targets, err = ks.stringList(t[k], validDataset(false))
		case "variants":
			e.variants, err = decodeVariants(ks, t[k])
		case "variant":
			e.variant, err = oneOf(ks, t[k], "variant", append([]study.Variant{study.VariantFull}, study.Ablations...))
			e.variantGiven = true
		case "classes":
			err = e.decodeClasses(ks, t[k])
		case "template":
			e.template, err = decodeTemplate(ks, t[k])
		case "from":
			e.source, err = ks.str(t[k])
			e.from = ks
		case "set":
			e.set, err = ks.paramTable(t[k])
		case "axes":
			err = e.decodeAxes(ks, t[k])
		case "zip":
			later.zipScope = ks
			later.zips, err = ks.tables(t[k])
		case "exclude":
			later.excludeScope = ks
			later.excludes, err = ks.tables(t[k])
		case "dataset":
			err = e.decodeOverrides(ks, t[k])
		}
		if err != nil {
			return later, err
		}
	}
	return later, nil
}

// checkKeyUsed refuses a key the experiment's protocol does not use,
// naming the protocols that do.
func (e *experiment) checkKeyUsed(ks scope, k string) error {
	if contains(experimentKeys[e.protocol], k) {
		return nil
	}
	var users []string
	for _, protocol := range protocols {
		if contains(experimentKeys[protocol], k) {
			users = append(users, string(protocol))
		}
	}
	if len(users) > 0 {
		return ks.errorf("not used by protocol %s (only by %s)", e.protocol, strings.Join(users, " and "))
	}
	return ks.errorf("unknown key (known for protocol %s: name, protocol, %s)", e.protocol, strings.Join(experimentKeys[e.protocol], ", "))
}

// decodeClasses reads classes: one half for train and transfer, one or
// several for zeroshot.
func (e *experiment) decodeClasses(ks scope, v any) error {
	var err error
	if e.protocol == study.ProtocolZeroShot {
		e.classList, err = decodeClassList(ks, v)
		return err
	}
	allowed := []study.Classes{study.ClassesBase, study.ClassesAll}
	if e.protocol == study.ProtocolTransfer {
		allowed = []study.Classes{study.ClassesAll, study.ClassesBase, study.ClassesNew}
	}
	e.classes, err = oneOf(ks, v, "classes", allowed)
	return err
}

// checkCells checks a train or base2new experiment once its keys are read:
// datasets given, axes consistent, excludes and overrides that match.
func (e *experiment) checkCells(s scope, t map[string]any, later laterTables) error {
	if _, ok := t["datasets"]; !ok {
		return s.child("datasets").errorf("missing")
	}
	if err := e.checkAxes(); err != nil {
		return err
	}
	for i, x := range later.excludes {
		if err := e.decodeExclude(later.excludeScope.element(i), x); err != nil {
			return err
		}
	}
	overrides, _ := t["dataset"].(map[string]any)
	for _, ds := range s.keys(overrides) {
		if !contains(e.datasets, ds) {
			return s.child("dataset").child(ds).errorf("%s is not among this experiment's datasets", ds)
		}
	}
	return nil
}

// checkTransfer checks what a transfer experiment's keys say together.
func (e *experiment) checkTransfer(s scope, t map[string]any) error {
	for _, required := range []string{"from", "targets"} {
		if _, ok := t[required]; !ok {
			return s.child(required).errorf("missing")
		}
	}
	if e.classes != "" && e.classes != study.ClassesAll {
		if err := checkWholeClasses(s.child("classes"), e.classes, e.targets); err != nil {
			return err
		}
	}
	return nil
}

// checkWholeClasses refuses a class half of a test-only dataset: CoOp's
// loaders of the ImageNet variants test every class whatever
// SUBSAMPLE_CLASSES says, so the halves have no reference meaning.
func checkWholeClasses(s scope, classes study.Classes, datasets []string) error {
	for _, ds := range datasets {
		if contains(testOnlyDatasets, ds) {
			return s.errorf("%q cannot apply to %s, a test-only dataset evaluated on all its classes", classes, ds)
		}
	}
	return nil
}

// checkZeroShot checks a zeroshot experiment: it needs datasets, and tests
// each on its base and new classes unless classes says otherwise.
func (e *experiment) checkZeroShot(s scope, t map[string]any) error {
	if _, ok := t["datasets"]; !ok {
		return s.child("datasets").errorf("missing")
	}
	if e.classList == nil {
		e.classList = []study.Classes{study.ClassesBase, study.ClassesNew}
	}
	for _, c := range e.classList {
		if c != study.ClassesAll {
			if err := checkWholeClasses(s.child("classes"), c, e.datasets); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeClassList reads a zeroshot experiment's classes: one of base, new
// and all, or a list of them.
func decodeClassList(s scope, v any) ([]study.Classes, error) {
	allowed := []study.Classes{study.ClassesBase, study.ClassesNew, study.ClassesAll}
	if _, one := v.(string); one {
		c, err := oneOf(s, v, "classes", allowed)
		return []study.Classes{c}, err
	}
	list, err := s.stringList(v, func(es scope, x string) error {
		_, err := oneOf(es, x, "classes", allowed)
		return err
	})
	out := make([]study.Classes, len(list))
	for i, x := range list {
		out[i] = study.Classes(x)
	}
	return out, err
}

// decodeTemplate reads a zero-shot template: the sentence with one {} where
// the class name goes, as Python's str.format fills CoOp's templates.
func decodeTemplate(s scope, v any) (string, error) {
	x, err := s.str(v)
	if err != nil {
		return "", err
	}
	if strings.Count(x, "{}") != 1 || strings.Count(x, "{") != 1 || strings.Count(x, "}") != 1 {
		return "", s.errorf("template %q needs exactly one {} where the class name goes, and no other braces", x)
	}
	return x, nil
}

// decodeVariants reads an experiment's list of ablations.
func decodeVariants(s scope, v any) ([]study.Variant, error) {
	list, err := s.stringList(v, func(es scope, x string) error {
		if study.Variant(x) == study.VariantFull {
			return es.errorf("%q always runs; list only ablations (%s)", x, names(study.Ablations))
		}
		if !contains(study.Ablations, study.Variant(x)) {
			return es.errorf("unknown variant %q (want %s)", x, names(study.Ablations))
		}
		return nil
	})
	out := make([]study.Variant, len(list))
	for i, x := range list {
		out[i] = study.Variant(x)
	}
	return out, err
}

func (e *experiment) decodeAxes(s scope, v any) error {
	t, err := s.table(v)
	if err != nil {
		return err
	}
	for _, k := range s.keys(t) {
		ks := s.child(k)
		p := paramIndex(k)
		if p < 0 {
			return ks.errorf("unknown parameter (known: %s)", paramKeys())
		}
		values, err := ks.paramList(p, t[k], true)
		if err != nil {
			return err
		}
		e.axes = append(e.axes, axis{keys: []int{p}, values: [][]value{values}, where: []scope{ks}})
	}
	// Canonical order, so that enumeration and names ignore the file's order.
	sort.SliceStable(e.axes, func(i, j int) bool { return e.axes[i].keys[0] < e.axes[j].keys[0] })
	return nil
}

func (e *experiment) decodeZip(s scope, t map[string]any) error {
	keys := s.keys(t)
	if len(keys) == 0 {
		return s.errorf("empty zip table")
	}
	a := axis{zip: true}
	for _, k := range keys {
		ks := s.child(k)
		p := paramIndex(k)
		if p < 0 {
			return ks.errorf("unknown parameter (known: %s)", paramKeys())
		}
		values, err := ks.paramList(p, t[k], false)
		if err != nil {
			return err
		}
		if len(a.keys) > 0 && len(values) != a.size() {
			return ks.errorf("has %d values but %s has %d; zipped lists advance together and need equal lengths",
				len(values), params[a.keys[0]].key, a.size())
		}
		a.keys = append(a.keys, p)
		a.values = append(a.values, values)
		a.where = append(a.where, ks)
	}
	// Zipped keys in canonical order too.
	order := make([]int, len(a.keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return a.keys[order[i]] < a.keys[order[j]] })
	sorted := axis{zip: true}
	for _, i := range order {
		sorted.keys = append(sorted.keys, a.keys[i])
		sorted.values = append(sorted.values, a.values[i])
		sorted.where = append(sorted.where, a.where[i])
	}
	for i := 0; i < sorted.size(); i++ {
		for j := 0; j < i; j++ {
			if sorted.tuple(i) == sorted.tuple(j) {
				return s.errorf("positions %d and %d hold the same values", j+1, i+1)
			}
		}
	}
	e.axes = append(e.axes, sorted)
	return nil
}

// tuple formats the i-th values of an axis, to compare positions.
func (a axis) tuple(i int) string {
	parts := make([]string, len(a.keys))
	for k, p := range a.keys {
		parts[k] = params[p].format(a.values[k][i])
	}
	return strings.Join(parts, ",")
}

// checkAxes rejects a parameter that is both fixed and swept, or swept twice.
func (e *experiment) checkAxes() error {
	sweptAt := map[int]scope{}
	for _, a := range e.axes {
		for k, p := range a.keys {
			if _, fixed := e.set[p]; fixed {
				return a.where[k].errorf("also fixed in set; a parameter is either fixed or swept")
			}
			if other, dup := sweptAt[p]; dup {
				return a.where[k].errorf("already swept at line %d (%s); a parameter can be on one axis only", other.line(), other.key)
			}
			sweptAt[p] = a.where[k]
		}
	}
	return nil
}

// axisValues returns the values an axis gives parameter p, or nil if p is on no axis.
func (e *experiment) axisValues(p int) []value {
	for _, a := range e.axes {
		for k, q := range a.keys {
			if q == p {
				return a.values[k]
			}
		}
	}
	return nil
}

func (e *experiment) decodeExclude(s scope, t map[string]any) error {
	keys := s.keys(t)
	if len(keys) == 0 {
		return s.errorf("empty exclude table (it would drop every cell)")
	}
	x := exclude{params: map[int]value{}, where: map[string]scope{}}
	for _, k := range keys {
		ks := s.child(k)
		x.where[k] = ks
		var err error
		switch k {
		case "dataset":
			x.dataset, err = ks.str(t[k])
			if err == nil && !contains(e.datasets, x.dataset) {
				err = ks.errorf("%q is not among this experiment's datasets", x.dataset)
			}
		case "variant":
			if len(e.variants) == 0 {
				return ks.errorf("this experiment has no variants")
			}
			x.variant, err = oneOf(ks, t[k], "variant", append([]study.Variant{study.VariantFull}, e.variants...))
		default:
			p := paramIndex(k)
			if p < 0 {
				return ks.errorf("unknown key (exclude matches axis parameters, dataset and variant)")
			}
			values := e.axisValues(p)
			if values == nil {
				return ks.errorf("%s is not an axis of this experiment; exclude matches swept values only", k)
			}
			var v value
			if v, err = ks.param(p, t[k]); err != nil {
				return err
			}
			found := false
			for _, y := range values {
				found = found || y == v
			}
			if !found {
				return ks.errorf("%s is not a value of the %s axis", params[p].format(v), k)
			}
			x.params[p] = v
		}
		if err != nil {
			return err
		}
	}
	e.excludes = append(e.excludes, x)
	return nil
}

func (e *experiment) decodeOverrides(s scope, v any) error {
	t, err := s.table(v)
	if err != nil {
		return err
	}
	for _, ds := range s.keys(t) {
		override, err := s.child(ds).paramTable(t[ds])
		if err != nil {
			return err
		}
		e.overrides[ds] = override
	}
	return nil
}
