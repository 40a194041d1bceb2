package plots

import (
	"image"
	"image/color"
	"strings"
	"testing"
)

// digit returns a w×h image whose pixel i holds byte(seed+i).
func digit(w, h int, seed uint8) []uint8 {
	b := make([]uint8, w*h)
	for i := range b {
		b[i] = seed + uint8(i)
	}
	return b
}

func TestGridLayout(t *testing.T) {
	imgs := [][]uint8{digit(28, 28, 0), digit(28, 28, 50), digit(28, 28, 100)}
	g, err := Grid(imgs, 2, 2, GridOptions{Gap: 2})
	if err != nil {
		t.Fatal(err)
	}
	const gap, tile = 2, 28
	if want := image.Rect(0, 0, 2*tile+3*gap, 2*tile+3*gap); g.Bounds() != want {
		t.Fatalf("bounds %v, want %v", g.Bounds(), want)
	}
	for i, img := range imgs {
		x0, y0 := gap+(i%2)*(tile+gap), gap+(i/2)*(tile+gap)
		for y := range tile {
			for x := range tile {
				v := img[y*tile+x]
				if got := g.RGBAAt(x0+x, y0+y); got != (color.RGBA{v, v, v, 255}) {
					t.Fatalf("image %d pixel (%d,%d) = %v, want grey %d", i, x, y, got, v)
				}
			}
		}
	}
	white := color.RGBA{255, 255, 255, 255}
	for _, p := range []image.Point{{0, 0}, {gap + tile, 10}, {10, gap + tile}, {gap + tile + gap + 5, gap + tile + gap + 5} /* empty cell */} {
		if got := g.RGBAAt(p.X, p.Y); got != white {
			t.Errorf("gap or empty cell at %v = %v, want white", p, got)
		}
	}
}

func TestGridScaleWidthLabels(t *testing.T) {
	// Two 3×2 images (width given), scaled 2×, captions wider than tiles.
	imgs := [][]uint8{{10, 20, 30, 40, 50, 60}, {1, 2, 3, 4, 5, 6}}
	labels := []string{"seven", "1"}
	g, err := Grid(imgs, 1, 0, GridOptions{Width: 3, Scale: 2, Gap: 1, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	cellW := 5 * 7        // "seven" in the 7-pixel font
	cellH := 2*2 + 13 + 1 // tile plus caption line
	if want := image.Rect(0, 0, 2*cellW+3, cellH+2); g.Bounds() != want {
		t.Fatalf("bounds %v, want %v", g.Bounds(), want)
	}
	// Tile 0 is centred in its cell: 6 pixels wide in a 35-pixel cell.
	tx := 1 + (cellW-6)/2
	// Output pixel (3,1) of the tile comes from image pixel (1,0).
	if got := g.RGBAAt(tx+3, 1+1); got != (color.RGBA{20, 20, 20, 255}) {
		t.Errorf("scaled pixel = %v, want grey 20", got)
	}
	if got := g.RGBAAt(tx+5, 1+3); got != (color.RGBA{60, 60, 60, 255}) {
		t.Errorf("scaled bottom-right pixel = %v, want grey 60", got)
	}
	// Captions put dark pixels under each tile.
	for cell := range 2 {
		dark := 0
		for y := 1 + 4; y < 1+cellH; y++ {
			for x := 1 + cell*(cellW+1); x < 1+cell*(cellW+1)+cellW; x++ {
				if g.RGBAAt(x, y).R < 128 {
					dark++
				}
			}
		}
		if dark == 0 {
			t.Errorf("cell %d: no caption drawn", cell)
		}
	}
}

func TestGridShape(t *testing.T) {
	tests := []struct{ n, rows, cols, wantR, wantC int }{
		{10, 0, 0, 3, 4},
		{16, 0, 0, 4, 4},
		{10, 0, 5, 2, 5},
		{10, 3, 0, 3, 4},
		{1, 0, 0, 1, 1},
	}
	for _, tt := range tests {
		r, c, err := gridShape(tt.n, tt.rows, tt.cols)
		if err != nil || r != tt.wantR || c != tt.wantC {
			t.Errorf("gridShape(%d, %d, %d) = %d, %d, %v; want %d, %d", tt.n, tt.rows, tt.cols, r, c, err, tt.wantR, tt.wantC)
		}
	}
}

func TestGridErrors(t *testing.T) {
	sq := digit(28, 28, 0)
	tests := []struct {
		name       string
		imgs       [][]uint8
		rows, cols int
		opt        GridOptions
		want       string
	}{
		{"none", nil, 1, 1, GridOptions{}, "no images"},
		{"too many", [][]uint8{sq, sq, sq}, 1, 2, GridOptions{}, "3 images do not fit in 1×2"},
		{"not square", [][]uint8{make([]uint8, 10)}, 0, 0, GridOptions{}, "not square"},
		{"width does not divide", [][]uint8{make([]uint8, 10)}, 0, 0, GridOptions{Width: 3}, "rows of 3 pixels"},
		{"lengths differ", [][]uint8{sq, sq[:100]}, 0, 0, GridOptions{}, "image 1 has 100 bytes"},
		{"labels", [][]uint8{sq, sq}, 0, 0, GridOptions{Labels: []string{"a"}}, "1 labels for 2 images"},
		{"empty images", [][]uint8{{}}, 0, 0, GridOptions{}, "do not split"},
	}
	for _, tt := range tests {
		_, err := Grid(tt.imgs, tt.rows, tt.cols, tt.opt)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
