package report

import (
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/fomo-grid/grid/internal/atomicfile"
)

// figureFormats are the files of every figure: PNG for the index and
// documents, SVG and PDF for papers.
var figureFormats = []string{"png", "svg", "pdf"}

// output writes the report's files into its directory and remembers them.
type output struct {
	dir string

	mu       sync.Mutex
	files    []string
	problems []error           // figures that could not be drawn
	pngs     map[string][]byte // figure base name -> PNG, for the index
}

func (o *output) write(name string, data []byte) error {
	path := filepath.Join(o.dir, name)
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	o.mu.Lock()
	o.files = append(o.files, path)
	o.mu.Unlock()
	return nil
}

// table writes a table as Markdown, CSV and LaTeX.
func (o *output) table(t *table) error {
	for _, f := range []struct {
		ext  string
		data []byte
	}{{"md", []byte(t.markdown(1))}, {"csv", t.csv()}, {"tex", []byte(t.latex())}} {
		if err := o.write(t.file(f.ext), f.data); err != nil {
			return err
		}
	}
	return nil
}

// figureJob is one figure to draw: its file name and how to build it (nil
// when there is nothing to draw).
type figureJob struct {
	name  string
	title string
	build func() (*figure, error)
}

// figures builds and renders the figures in parallel (gonum's drawing is
// single-threaded per figure) and returns the names of those drawn, in the
// order given. A figure that fails is left out and its error kept: the
// rest of the report is still written.
func (o *output) figures(jobs []figureJob) ([]figureJob, error) {
	drawn := make([]bool, len(jobs))
	var fatal error
	var fatalOnce sync.Once
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ok, err := o.figure(jobs[i])
				if err != nil {
					fatalOnce.Do(func() { fatal = err })
				}
				drawn[i] = ok
			}
		}()
	}
	for i := range jobs {
		work <- i
	}
	close(work)
	wg.Wait()
	var out []figureJob
	for i, j := range jobs {
		if drawn[i] {
			out = append(out, j)
		}
	}
	return out, fatal
}

// figure draws one figure in every format. A drawing problem is kept and
// the figure skipped (ok false, err nil); a write failure is returned.
func (o *output) figure(j figureJob) (ok bool, err error) {
	fig, err := j.build()
	if err != nil {
		o.problem(fmt.Errorf("figure %s: %w", j.name, err))
		return false, nil
	}
	if fig == nil {
		return false, nil
	}
	for _, format := range figureFormats {
		data, err := fig.render(format)
		if err != nil {
			o.problem(fmt.Errorf("figure %s: %w", j.name, err))
			return false, nil
		}
		if err := o.write(j.name+"."+format, data); err != nil {
			return false, err
		}
		if format == "png" {
			o.mu.Lock()
			o.pngs[j.name] = data
			o.mu.Unlock()
		}
	}
	return true, nil
}

func (o *output) problem(err error) {
	o.mu.Lock()
	o.problems = append(o.problems, err)
	o.mu.Unlock()
}

// dataURI embeds a drawn figure's PNG in the index.
func (o *output) dataURI(name string) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(o.pngs[name])
}

// sortedFiles are the files written, sorted.
func (o *output) sortedFiles() []string {
	out := append([]string(nil), o.files...)
	sort.Strings(out)
	return out
}

func (o *output) err() error {
	if len(o.problems) == 0 {
		return nil
	}
	return fmt.Errorf("report: %w", errors.Join(o.problems...))
}
