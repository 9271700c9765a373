package sweeps

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"slices"
	"strings"

	"github.com/fomo-grid/grid/internal/study"
)

// ConfigID is a job's ID: the first 16 hex digits of the SHA-256 of the
// Config's JSON encoding. encoding/json writes struct fields in declaration
// order and floats in their shortest exact form, so the encoding is
// canonical: equal configs get equal IDs whatever file, order or experiment
// names produced them.
func ConfigID(c Config) string {
	var buf [512]byte
	sum := sha256.Sum256(appendConfigJSON(buf[:0], c))
	return hex.EncodeToString(sum[:8])
}

// expander turns validated experiments into the job list, merging jobs
// whose configs are equal.
type expander struct {
	file   *gridFile
	jobs   []Job
	byID   map[string]int
	trains map[string][]string // experiment name -> its train job IDs, in order
	listed map[listedKey]bool  // train IDs already in trains
	// formatted caches label texts: a grid repeats each value many times.
	formatted map[paramValue]string
}

type listedKey struct{ experiment, id string }

type paramValue struct {
	p int
	v value
}

// label is the text of parameter p's value v, as labels and names show it.
func (x *expander) label(p int, v value) string {
	k := paramValue{p, v}
	text, ok := x.formatted[k]
	if !ok {
		text = params[p].format(v)
		x.formatted[k] = text
	}
	return text
}

func expand(f *gridFile) []Job {
	// Sized from the bound checkSize found: growing a slice of 200,000
	// jobs step by step copies it over and over.
	x := &expander{file: f, jobs: make([]Job, 0, f.jobBound), byID: make(map[string]int, f.jobBound),
		trains: map[string][]string{}, listed: map[listedKey]bool{}, formatted: map[paramValue]string{}}
	// Every eval is added right after its train job is, or, for transfers,
	// after all train jobs are: the list comes out in topological order.
	for _, e := range f.experiments {
		switch e.protocol {
		case study.ProtocolZeroShot:
			x.zeroShot(e)
		case study.ProtocolTransfer:
		default:
			x.cells(e)
		}
	}
	for _, e := range f.experiments {
		if e.protocol == study.ProtocolTransfer {
			x.transfer(e)
		}
	}
	return x.jobs
}

// add inserts a job, or merges it into the job with the same config.
func (x *expander) add(j Job) string {
	j.ID = ConfigID(j.Config)
	i, seen := x.byID[j.ID]
	if !seen {
		x.byID[j.ID] = len(x.jobs)
		x.jobs = append(x.jobs, j)
		return j.ID
	}
	old := &x.jobs[i]
	for _, name := range j.Experiments {
		if !contains(old.Experiments, name) {
			old.Experiments = append(old.Experiments, name)
		}
	}
	// Labels name config values, so two sources never disagree on a key.
	// A job's labels map may be shared with its cell's other job (cell),
	// so it is copied before it changes.
	if len(j.Labels) > 0 {
		merged := copyLabels(old.Labels)
		if merged == nil {
			merged = map[string]string{}
		}
		for k, v := range j.Labels {
			merged[k] = v
		}
		old.Labels = merged
	}
	return j.ID
}

// cells expands a train or base2new experiment: datasets × axes × variants,
// less the excluded cells.
func (x *expander) cells(e *experiment) {
	base := x.file.defaults
	for p, v := range e.set {
		base[p] = v
	}
	variants := append([]study.Variant{study.VariantFull}, e.variants...)
	position := make([]int, len(e.axes)) // odometer over the axes, last fastest
	for _, ds := range e.datasets {
		for i := range position {
			position[i] = 0
		}
		for {
			cell := base
			for a, ax := range e.axes {
				for k, p := range ax.keys {
					cell[p] = ax.values[k][position[a]]
				}
			}
			for _, variant := range variants {
				if !e.excluded(ds, variant, cell) {
					x.cell(e, ds, variant, cell)
				}
			}
			if !advance(position, e.axes) {
				break
			}
		}
	}
}

// advance steps the odometer; false once it has wrapped around.
func advance(position []int, axes []axis) bool {
	for a := len(axes) - 1; a >= 0; a-- {
		position[a]++
		if position[a] < axes[a].size() {
			return true
		}
		position[a] = 0
	}
	return false
}

// excluded matches the cell's swept values as written, before any
// per-dataset override.
func (e *experiment) excluded(ds string, variant study.Variant, cell settings) bool {
	for _, x := range e.excludes {
		match := (x.dataset == "" || x.dataset == ds) && (x.variant == "" || x.variant == variant)
		for p, v := range x.params {
			match = match && cell[p] == v
		}
		if match {
			return true
		}
	}
	return false
}

// cell adds one cell's train job and, for base2new, its eval on the new classes.
func (x *expander) cell(e *experiment, ds string, variant study.Variant, cell settings) {
	for p, v := range e.overrides[ds] {
		cell[p] = v
	}
	labels, stem := x.cellLabels(e, ds, variant, cell)
	classes := e.classes
	if e.protocol == study.ProtocolBase2New {
		classes = study.ClassesBase
	}
	// One experiments list for both jobs: add copies it before it grows
	// (its capacity is its length), so sharing it is safe and saves an
	// allocation per job.
	experiments := []string{e.name}
	train := Job{
		Name:        stem + string(study.KindTrain),
		Config:      x.trainConfig(ds, classes, variant, cell),
		Experiments: experiments,
		Labels:      labels,
	}
	id := x.add(train)
	// Cells that an override collapses yield the same train job again
	// (without overrides, every cell of an experiment is a new one).
	if len(e.overrides) == 0 {
		x.trains[e.name] = append(x.trains[e.name], id)
	} else if key := (listedKey{e.name, id}); !x.listed[key] {
		x.listed[key] = true
		x.trains[e.name] = append(x.trains[e.name], id)
	}
	if e.protocol != study.ProtocolBase2New {
		return
	}
	x.add(Job{
		Name:        stem + string(study.ClassesNew),
		Config:      evalConfig(train.Config, ds, study.ClassesNew, variant, id),
		Deps:        []string{id},
		Experiments: experiments,
		Labels:      labels, // shared: add copies before it changes a job's labels
	})
}

// transfer adds one eval job per train job of the source experiment and target.
func (x *expander) transfer(e *experiment) {
	for _, id := range x.trains[e.source] {
		source := x.jobs[x.byID[id]]
		variant := e.variant
		if !e.variantGiven {
			variant = source.Config.Variant
		}
		labels := copyLabels(source.Labels)
		if e.variantGiven || labels["variant"] != "" {
			if labels == nil {
				labels = map[string]string{}
			}
			labels["variant"] = string(variant)
		}
		for _, target := range e.targets {
			last := target
			if e.classes != study.ClassesAll {
				last += "-" + string(e.classes)
			}
			x.add(Job{
				Name:        jobName(e.name, source.Config.Dataset, source.Labels, last),
				Config:      evalConfig(source.Config, target, e.classes, variant, id),
				Deps:        []string{id},
				Experiments: []string{e.name},
				Labels:      copyLabels(labels),
			})
		}
	}
}

// zeroShot adds one eval job per dataset and classes: CLIP with the
// template, nothing trained, so no source and no seed.
func (x *expander) zeroShot(e *experiment) {
	for _, ds := range e.datasets {
		template := e.template
		if template == "" {
			template = ZeroShotTemplate(ds)
		}
		for _, classes := range e.classList {
			x.add(Job{
				Name: jobName(e.name, ds, nil, string(classes)),
				Config: Config{
					Kind:      study.KindEval,
					Model:     path.Clean(x.file.model),
					DataRoot:  path.Clean(x.file.dataRoot),
					Dataset:   ds,
					Classes:   classes,
					Template:  template,
					Precision: jobPrecision(x.file.defaults[pPrecision]),
				},
				Experiments: []string{e.name},
			})
		}
	}
}

func (x *expander) trainConfig(ds string, classes study.Classes, variant study.Variant, s settings) Config {
	return Config{
		Kind:         study.KindTrain,
		Model:        path.Clean(x.file.model),
		DataRoot:     path.Clean(x.file.dataRoot),
		Dataset:      ds,
		Classes:      classes,
		Variant:      variant,
		Seed:         s[pSeed].int,
		NCtx:         int(s[pNCtx].int),
		Precision:    jobPrecision(s[pPrecision]),
		Shots:        int(s[pShots].int),
		WeightStd:    s[pWeightStd].float,
		Epochs:       int(s[pEpochs].int),
		LR:           s[pLR].float,
		WarmupLR:     s[pWarmupLR].float,
		WarmupEpochs: int(s[pWarmupEpochs].int),
		Momentum:     s[pMomentum].float,
		WeightDecay:  s[pWeightDecay].float,
		BatchSize:    int(s[pBatchSize].int),
	}
}

// evalConfig is the config of evaluating the checkpoint of train job source
// (whose config is train) on dataset ds. Training-only fields stay zero: they
// are decided by the source, which the config names.
func evalConfig(train Config, ds string, classes study.Classes, variant study.Variant, source string) Config {
	return Config{
		Kind:      study.KindEval,
		Model:     train.Model,
		DataRoot:  train.DataRoot,
		Dataset:   ds,
		Classes:   classes,
		Variant:   variant,
		Seed:      train.Seed,
		NCtx:      train.NCtx,
		Precision: train.Precision,
		Source:    source,
	}
}

// jobPrecision is a precision as a Config holds it: the default fp32 is
// left out of the job's identity.
func jobPrecision(v value) study.Precision {
	if study.Precision(v.str) == study.PrecisionFP32 {
		return ""
	}
	return study.Precision(v.str)
}

// cellLabels returns a cell's labels (the values the job really uses, so
// cells that an override collapses carry the same labels and merge cleanly)
// and its job name stem, as jobStem writes it but without a map lookup per
// parameter: the swept parameters, in canonical order, then the variant.
func (x *expander) cellLabels(e *experiment, ds string, variant study.Variant, cell settings) (map[string]string, string) {
	swept := e.sweptParams()
	if len(swept) == 0 && len(e.variants) == 0 {
		return nil, e.name + "/" + ds + "/"
	}
	labels := make(map[string]string, len(swept)+1)
	var b strings.Builder
	b.WriteString(e.name)
	b.WriteByte('/')
	b.WriteString(ds)
	b.WriteByte('/')
	for i, p := range swept {
		text := x.label(p, cell[p])
		labels[params[p].key] = text
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(params[p].key)
		b.WriteByte('=')
		b.WriteString(text)
	}
	if len(e.variants) > 0 {
		labels["variant"] = string(variant)
		if len(swept) > 0 {
			b.WriteByte(',')
		}
		b.WriteString("variant=")
		b.WriteString(string(variant))
	}
	b.WriteByte('/')
	return labels, b.String()
}

// sweptParams lists the parameters the experiment's axes sweep, in
// canonical order (computed once).
func (e *experiment) sweptParams() []int {
	if e.swept == nil {
		e.swept = []int{}
		for _, a := range e.axes {
			e.swept = append(e.swept, a.keys...)
		}
		slices.Sort(e.swept)
	}
	return e.swept
}

// jobName is "<experiment>/<dataset>/<k=v,...>/<last>", the labels in
// canonical parameter order then variant; the cell part is left out when
// there are no labels.
func jobName(experiment, ds string, labels map[string]string, last string) string {
	return jobStem(experiment, ds, labels) + last
}

// jobStem is jobName without its last part, ending in "/".
func jobStem(experiment, ds string, labels map[string]string) string {
	parts := []string{experiment, ds}
	var cell []string
	for _, p := range params {
		if v, ok := labels[p.key]; ok {
			cell = append(cell, p.key+"="+v)
		}
	}
	if v, ok := labels["variant"]; ok {
		cell = append(cell, "variant="+v)
	}
	if len(cell) > 0 {
		parts = append(parts, strings.Join(cell, ","))
	}
	return strings.Join(parts, "/") + "/"
}

func copyLabels(labels map[string]string) map[string]string {
	if labels == nil {
		return nil
	}
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		out[k] = v
	}
	return out
}
