package report

import (
	"fmt"
	"html"
	"strings"

	"github.com/fomo-grid/grid/results"
)

// jobsLine counts the report's jobs by state.
func (r *report) jobsLine() string {
	total := 0
	var parts []string
	for _, s := range []results.JobState{results.StateDone, results.StateRunning, results.StatePending, results.StateFailed} {
		if n := r.counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
		total += r.counts[s]
	}
	line := fmt.Sprintf("Jobs: %d", total)
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	return line + "."
}

// scope says what the report covers when it is filtered.
func (r *report) scope() string {
	var parts []string
	if len(r.opts.Datasets) > 0 {
		parts = append(parts, "datasets "+strings.Join(r.opts.Datasets, ", "))
	}
	if len(r.opts.Experiments) > 0 {
		parts = append(parts, "experiments "+strings.Join(r.opts.Experiments, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Only " + strings.Join(parts, "; ") + " (zero-shot baselines always)."
}

// markdownIndex is README.md: the summary table in full, every other table
// linked, every figure shown.
func (r *report) markdownIndex(secs []*section, out *output) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Report: grid `%s`\n\n", r.grid.Name)
	if r.grid.File != "" {
		fmt.Fprintf(&b, "Grid file: `%s`. ", r.grid.File)
	}
	b.WriteString(r.jobsLine() + " " + r.scope() + "\n\n")
	b.WriteString("Everything in one page: [index.html](index.html). Every table is also a CSV and a LaTeX file " +
		"(same name); every figure a PNG, SVG and PDF.\n\n")
	for _, s := range secs {
		for i, t := range s.tables {
			if s.id == "summary" && i == 0 {
				b.WriteString(t.markdown(2) + "\n")
				fmt.Fprintf(&b, "This table: [Markdown](%s) · [CSV](%s) · [LaTeX](%s)\n", t.file("md"), t.file("csv"), t.file("tex"))
				continue
			}
			if i == 0 {
				fmt.Fprintf(&b, "## %s\n\n", s.title)
			}
			fmt.Fprintf(&b, "- %s: [Markdown](%s) · [CSV](%s) · [LaTeX](%s)\n", t.title, t.file("md"), t.file("csv"), t.file("tex"))
		}
		b.WriteString("\n")
		for _, f := range s.drawn {
			fmt.Fprintf(&b, "![%s](%s.png)\n\n[PNG](%s.png) · [SVG](%s.svg) · [PDF](%s.pdf)\n\n", f.title, f.name, f.name, f.name, f.name)
		}
		for _, p := range s.pgf {
			fmt.Fprintf(&b, "- pgfplots coordinates: [%s](%s)\n\n", p.name, p.name)
		}
	}
	if len(out.problems) > 0 {
		b.WriteString("## Figures that could not be drawn\n\n")
		for _, err := range out.problems {
			fmt.Fprintf(&b, "- %s\n", mdCell(err.Error()))
		}
	}
	return b.String()
}

// htmlRowLimit bounds each table of index.html; the full table is linked.
const htmlRowLimit = 60

const htmlStyle = `body{font-family:system-ui,sans-serif;margin:2em auto;max-width:75em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}
th,td{border:1px solid #ccc;padding:0.2em 0.5em;vertical-align:top}
th{background:#f2f2f2}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{background:#f6f6f6;padding:0 0.2em}img{max-width:100%;height:auto;display:block;margin:0.5em 0}
nav a{margin-right:1em}.caption{color:#555;font-size:0.9em;max-width:60em}.more{font-size:0.85em;color:#555}
figure{margin:1em 0 2em}figcaption{font-size:0.85em}`

// htmlIndex is index.html: every table and figure in one file, the
// figures' PNGs embedded, so that it opens anywhere on its own.
func (r *report) htmlIndex(secs []*section, out *output) string {
	var b strings.Builder
	title := html.EscapeString("Report: grid " + r.grid.Name)
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<style>\n%s\n</style>\n</head>\n<body>\n", title, htmlStyle)
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p>%s %s</p>\n<nav>", title, html.EscapeString(r.jobsLine()), html.EscapeString(r.scope()))
	for _, s := range secs {
		fmt.Fprintf(&b, `<a href="#%s">%s</a>`, s.id, html.EscapeString(s.title))
	}
	b.WriteString("</nav>\n")
	for _, s := range secs {
		fmt.Fprintf(&b, "<section id=\"%s\">\n<h2>%s</h2>\n", s.id, html.EscapeString(s.title))
		for _, t := range s.tables {
			if t.title != s.title {
				fmt.Fprintf(&b, "<h3>%s</h3>\n", html.EscapeString(t.title))
			}
			fmt.Fprintf(&b, "<p class=\"caption\">%s <a href=\"%s\">Markdown</a> · <a href=\"%s\">CSV</a> · <a href=\"%s\">LaTeX</a></p>\n",
				html.EscapeString(t.caption), t.file("md"), t.file("csv"), t.file("tex"))
			b.WriteString(t.html(htmlRowLimit))
		}
		for _, f := range s.drawn {
			fmt.Fprintf(&b, "<figure>\n<img src=\"%s\" alt=\"%s\">\n<figcaption>%s: <a href=\"%s.svg\">SVG</a> · <a href=\"%s.pdf\">PDF</a></figcaption>\n</figure>\n",
				out.dataURI(f.name), html.EscapeString(f.title), html.EscapeString(f.title), f.name, f.name)
		}
		b.WriteString("</section>\n")
	}
	if len(out.problems) > 0 {
		b.WriteString("<h2>Figures that could not be drawn</h2>\n<ul>\n")
		for _, err := range out.problems {
			fmt.Fprintf(&b, "<li>%s</li>\n", html.EscapeString(err.Error()))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}
