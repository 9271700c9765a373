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
