package main

import (
	"fmt"
	"image/color"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Colours of the two sides, the same in every panel.
var (
	meshColor    = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	osmInitColor = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	otherColor   = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
)

// box is one row of a panel.
type box struct {
	s     series
	color color.Color
}

// writePlot draws box plots (median, quartiles, whiskers, outliers) of
// the ADD latencies and skip paths, and of pod start-up when measured,
// side by side, into a PNG.
func writePlot(r *results, path string) error {
	var panels []*plot.Plot
	var adds []box
	for _, a := range r.add {
		adds = append(adds, box{a.mesh, meshColor}, box{a.osmInit, osmInitColor})
	}
	meshed := len(adds)
	if r.skip != nil {
		adds = append(adds, box{r.skip.excluded, otherColor}, box{r.skip.noSidecar, otherColor})
	}
	if len(adds) > 0 {
		p, err := boxPanel("ADD: mesh-cni exec vs osm-init command chain", "milliseconds", adds)
		if err != nil {
			return err
		}
		// Each group of rows has its own target: 15 ms for a meshed ADD,
		// 5 ms for the skip path.
		if meshed > 0 {
			err = targetLine(p, "target meshed ADD: 15 ms", msOf(targetAddMedian), len(adds), 0, meshed, []vg.Length{vg.Points(4), vg.Points(3)})
		}
		if err == nil && len(adds) > meshed {
			err = targetLine(p, "target skip: 5 ms", msOf(targetSkipMedian), len(adds), meshed, len(adds), []vg.Length{vg.Points(1), vg.Points(2)})
		}
		if err != nil {
			return err
		}
		// The legend goes where the boxes leave room: beside the short
		// skip rows at the bottom when they are drawn, else at the top.
		p.Legend.Top = len(adds) == meshed
		panels = append(panels, p)
	}
	if ps := r.podStart; ps != nil {
		p, err := boxPanel(fmt.Sprintf("kubectl apply to Ready, %d pods a batch", ps.pods), "seconds",
			[]box{{ps.meshed, meshColor}, {ps.osmInit, osmInitColor}})
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if o := r.podStartOSM; o != nil {
		p, err := boxPanel(fmt.Sprintf("with OSM's injector: apply to Ready, %d pods a batch", o.pods), "seconds",
			[]box{{o.plain.ready, otherColor}, {o.osmInit.ready, osmInitColor}, {o.meshCNI.ready, meshColor}})
		if err != nil {
			return err
		}
		// The target is relative: 5% above plain pods' median, drawn
		// across mesh-cni's row (the last).
		limit := (1 + targetOSMStart) * summarize(o.plain.ready.d).med.Seconds()
		if err := targetLine(p, "target: plain pods' median + 5%", limit, 3, 2, 3, []vg.Length{vg.Points(4), vg.Points(3)}); err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return fmt.Errorf("nothing was measured")
	}
	width := vg.Length(len(panels)) * 6 * vg.Inch
	img := vgimg.New(width, 4*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 4}
	canvases := plot.Align([][]*plot.Plot{panels}, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("encoding PNG: %w", err)
	}
	return f.Close()
}

// boxPanel is a horizontal box plot, one row per series, in ms or s.
func boxPanel(title, unit string, rows []box) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = unit
	p.X.Min = 0
	scale := 1e3 // ms per second
	if unit == "seconds" {
		scale = 1
	}
	var names []string
	for i, row := range rows {
		vals := make(plotter.Values, len(row.s.d))
		for j, d := range row.s.d {
			vals[j] = d.Seconds() * scale
		}
		if len(vals) == 0 {
			vals = plotter.Values{0}
		}
		b, err := plotter.NewBoxPlot(vg.Points(14), float64(len(rows)-1-i), vals)
		if err != nil {
			return nil, fmt.Errorf("box plot of %s: %w", row.s.name, err)
		}
		b.Horizontal = true
		b.FillColor = row.color
		b.BoxStyle.Color = color.Black
		p.Add(b)
		names = append([]string{row.s.name}, names...)
	}
	p.NominalY(names...)
	p.Add(plotter.NewGrid())
	return p, nil
}

// msOf is d in milliseconds, the ADD panel's unit.
func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// targetLine draws the target of rows from..to-1 (of n, in boxPanel's
// order, top row 0) as a vertical line at x, in the panel's unit, across
// those rows only, dashed as given so that the legend tells two apart.
func targetLine(p *plot.Plot, label string, x float64, n, from, to int, dashes []vg.Length) error {
	// boxPanel puts row i at y = n-1-i.
	top, bottom := float64(n-from)-0.5, float64(n-to)-0.5
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: bottom}, {X: x, Y: top}})
	if err != nil {
		return fmt.Errorf("target line: %w", err)
	}
	l.Color = meshColor
	l.Dashes = dashes
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}
