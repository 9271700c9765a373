package trainer

import (
	"sort"

	"github.com/fomo-grid/grid/engine"
)

// classify scores predictions the way Dassl's Classification evaluator does:
// accuracy = 100·correct/total, macro-F1 = 100·sklearn f1_score(average="macro",
// labels=unique(y_true)). A label that is predicted but never true adds false
// positives to nobody's precision but lowers the true label's recall.
func classify(pred, truth []int) engine.Evaluation {
	ev := engine.Evaluation{Total: len(truth)}
	tp := map[int]int{}
	predicted := map[int]int{}
	actual := map[int]int{}
	for i, y := range truth {
		actual[y]++
		predicted[pred[i]]++
		if pred[i] == y {
			ev.Correct++
			tp[y]++
		}
	}
	if ev.Total == 0 {
		return ev
	}
	ev.Accuracy = 100 * float64(ev.Correct) / float64(ev.Total)
	// Sum the per-label F1 in label order: map order would change the last
	// bits of the mean from run to run.
	present := make([]int, 0, len(actual))
	for y := range actual {
		present = append(present, y)
	}
	sort.Ints(present)
	var sum float64
	for _, y := range present {
		n := actual[y]
		var p, r float64
		if predicted[y] > 0 {
			p = float64(tp[y]) / float64(predicted[y])
		}
		r = float64(tp[y]) / float64(n)
		if p+r > 0 {
			sum += 2 * p * r / (p + r)
		}
	}
	ev.MacroF1 = 100 * sum / float64(len(actual))
	return ev
}

// argmax is the class an image is predicted as: the first of its largest
// logits.
func argmax(logits []float32) int {
	best := 0
	for c, l := range logits {
		if l > logits[best] {
			best = c
		}
	}
	return best
}
