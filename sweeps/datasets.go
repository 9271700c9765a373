package sweeps

// zeroShotTemplates are the hand-written prompts of CoOp's zero-shot CLIP
// (CUSTOM_TEMPLATES in trainers/zsclip.py), by dataset: the class name,
// with underscores as spaces, goes where {} is. A zeroshot experiment uses
// them unless its template key says otherwise.
var zeroShotTemplates = map[string]string{
	"oxford_pets":     "a photo of a {}, a type of pet.",
	"oxford_flowers":  "a photo of a {}, a type of flower.",
	"fgvc_aircraft":   "a photo of a {}, a type of aircraft.",
	"dtd":             "{} texture.",
	"eurosat":         "a centered satellite photo of {}.",
	"stanford_cars":   "a photo of a {}.",
	"food101":         "a photo of {}, a type of food.",
	"sun397":          "a photo of a {}.",
	"caltech101":      "a photo of a {}.",
	"ucf101":          "a photo of a person doing {}.",
	"imagenet":        "a photo of a {}.",
	"imagenet_sketch": "a photo of a {}.",
	"imagenetv2":      "a photo of a {}.",
	"imagenet_a":      "a photo of a {}.",
	"imagenet_r":      "a photo of a {}.",
}

// plainTemplate is the template of datasets CoOp does not know (the demo's).
const plainTemplate = "a photo of a {}."

// ZeroShotTemplate is the template a zeroshot experiment uses for dataset
// when it gives none.
func ZeroShotTemplate(dataset string) string {
	if t, ok := zeroShotTemplates[dataset]; ok {
		return t
	}
	return plainTemplate
}

// datasetSizes are the class count and test images of each dataset (CoOp's
// splits, as its paper tabulates them; the demo's as `grid demo` writes
// them): what a compute estimate counts before anything has run.
var datasetSizes = map[string][2]int{
	"imagenet": {1000, 50000}, "caltech101": {100, 2465}, "oxford_pets": {37, 3669}, "stanford_cars": {196, 8041},
	"oxford_flowers": {102, 2463}, "food101": {101, 30300}, "fgvc_aircraft": {100, 3333}, "sun397": {397, 19850},
	"dtd": {47, 1692}, "eurosat": {10, 8100}, "ucf101": {101, 3783},
	"imagenetv2": {1000, 10000}, "imagenet_sketch": {1000, 50889}, "imagenet_a": {200, 7500}, "imagenet_r": {200, 30000},
	"demo": {8, 80}, "demo_b": {8, 80},
}

// DatasetSize returns a dataset's number of classes and test images.
func DatasetSize(dataset string) (classes, testImages int, ok bool) {
	s, ok := datasetSizes[dataset]
	return s[0], s[1], ok
}
