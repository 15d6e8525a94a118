package console

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// The dashboard's charts are SVG written here, inline in the page: no chart library,
// no script. Colours come from the stylesheet through classes.

// svgChart is an SVG image ready for a template.
type svgChart struct{ html template.HTML }

// segment is one part of a stacked bar.
type segment struct {
	Label string
	Value int
	Class string
	URL   string
}

// stackedBar draws the parts of a whole side by side, each as wide as its share, with
// a tooltip per part. An empty whole draws an empty track.
func stackedBar(segs []segment, width, height int) svgChart {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="stack" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img" aria-label="fleet compliance">`, width, height)
	fmt.Fprintf(&b, `<rect class="track" x="0" y="0" width="%d" height="%d" rx="4"/>`, width, height)
	total := 0
	for _, s := range segs {
		total += s.Value
	}
	if total > 0 {
		x := 0.0
		for _, s := range segs {
			if s.Value == 0 {
				continue
			}
			w := float64(width) * float64(s.Value) / float64(total)
			fmt.Fprintf(&b, `<rect class="%s" x="%.2f" y="0" width="%.2f" height="%d"><title>%s: %d (%d%%)</title></rect>`,
				html.EscapeString(s.Class), x, w, height, html.EscapeString(s.Label), s.Value, s.Value*100/total)
			x += w
		}
	}
	b.WriteString(`</svg>`)
	return svgChart{template.HTML(b.String())}
}

// noData marks a day without a value: the line breaks there.
const noData = -1.0

// dayValue is one day of a time chart.
type dayValue struct {
	Day   time.Time
	Value float64
}

type chartKind int

const (
	chartLine chartKind = iota
	chartBars
)

type chartOpts struct {
	Kind    chartKind
	Class   string // colour class of the series
	Label   string // aria label
	Percent bool   // values are 0..100 %
}

// timeChart draws a daily series with a y axis (0, half, max), a grid and a date every
// week on the x axis.
func timeChart(points []dayValue, o chartOpts) svgChart {
	const (
		w, h                 = 400, 170
		left, right, top, bt = 40, 8, 10, 22
	)
	pw, ph := float64(w-left-right), float64(h-top-bt)
	maxV := 0.0
	for _, p := range points {
		maxV = math.Max(maxV, p.Value)
	}
	if o.Percent {
		maxV = 100
	} else {
		maxV = niceCeil(maxV)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timechart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, w, h, html.EscapeString(o.Label))
	// Grid and y labels.
	for i := 0; i <= 2; i++ {
		v := maxV * float64(i) / 2
		y := float64(top) + ph - ph*float64(i)/2
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, left, y, w-right, y)
		label := formatTick(v)
		if o.Percent {
			label += "%"
		}
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, y+4, label)
	}
	n := len(points)
	if n == 0 {
		b.WriteString(`</svg>`)
		return svgChart{template.HTML(b.String())}
	}
	slot := pw / float64(n)
	xOf := func(i int) float64 { return float64(left) + slot*float64(i) + slot/2 }
	yOf := func(v float64) float64 {
		if maxV <= 0 {
			return float64(top) + ph
		}
		return float64(top) + ph - ph*v/maxV
	}
	// Dates: every 7th day, ending on the last.
	for i := n - 1; i >= 0; i -= 7 {
		x, anchor := xOf(i), "middle"
		if i == n-1 {
			x, anchor = float64(w-right), "end"
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x, h-6, anchor, points[i].Day.Format("Jan 2"))
	}
	switch o.Kind {
	case chartBars:
		bw := math.Max(slot*0.7, 1)
		for i, p := range points {
			if p.Value <= 0 {
				continue
			}
			y := yOf(p.Value)
			fmt.Fprintf(&b, `<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
				html.EscapeString(o.Class), xOf(i)-bw/2, y, bw, float64(top)+ph-y, p.Day.Format("2006-01-02"), formatTick(p.Value))
		}
	default:
		// One path per run of days with data.
		var runs [][]int
		for i, p := range points {
			if p.Value < 0 {
				continue
			}
			if len(runs) == 0 || runs[len(runs)-1][len(runs[len(runs)-1])-1] != i-1 {
				runs = append(runs, nil)
			}
			runs[len(runs)-1] = append(runs[len(runs)-1], i)
		}
		for _, run := range runs {
			var line strings.Builder
			for j, i := range run {
				cmd := "L"
				if j == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&line, "%s%.1f %.1f ", cmd, xOf(i), yOf(points[i].Value))
			}
			first, last := run[0], run[len(run)-1]
			fmt.Fprintf(&b, `<path class="area %s" d="%sL%.1f %.1f L%.1f %.1f Z"/>`, html.EscapeString(o.Class), line.String(),
				xOf(last), float64(top)+ph, xOf(first), float64(top)+ph)
			fmt.Fprintf(&b, `<path class="line %s" d="%s"/>`, html.EscapeString(o.Class), strings.TrimSpace(line.String()))
		}
		for i, p := range points {
			if p.Value < 0 {
				continue
			}
			v := formatTick(p.Value)
			if o.Percent {
				v += "%"
			}
			fmt.Fprintf(&b, `<circle class="dot %s" cx="%.1f" cy="%.1f" r="2.2"><title>%s: %s</title></circle>`,
				html.EscapeString(o.Class), xOf(i), yOf(p.Value), p.Day.Format("2006-01-02"), v)
		}
	}
	fmt.Fprintf(&b, `<line class="axisline" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, left, float64(top)+ph, w-right, float64(top)+ph)
	b.WriteString(`</svg>`)
	return svgChart{template.HTML(b.String())}
}

// niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten (at least 1), so that
// the axis has round numbers.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// dayIndex returns the index of the first day whose end is at or after t, among days
// (day starts, ascending, each ending where the next starts and the last 24 hours after
// its start): len(days) when t is after the last day.
func dayIndex(days []time.Time, t time.Time) int {
	n := len(days)
	return sort.Search(n, func(i int) bool {
		end := days[0].AddDate(0, 0, i+1)
		return !end.Before(t)
	})
}

// chartCache keeps the dashboard's history charts, which read every host's statuses,
// for a minute.
type chartCache struct {
	mu   sync.Mutex
	at   time.Time
	data *history
}
