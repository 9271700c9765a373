package data

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"fmt"
)

func savePNG(t *testing.T, img *Image, path string) {
	f, err := os.Create(path)
	if err != nil { t.Fatal(err) }
	defer f.Close()
	if err := png.Encode(f, img.ToImage()); err != nil { t.Fatal(err) }
}

func TestDbgPIL(t *testing.T) {
	dir := os.Getenv("PILCHECK")
	if dir == "" { t.Skip() }
	srcs := map[string]*Image{"a": testImage(120, 90, 3), "b": testImage(500, 375, 4), "c": testImage(37, 29, 5), "d": testImage(224, 224, 6), "e": testImage(333, 500, 7)}
	for name, src := range srcs {
		savePNG(t, src, filepath.Join(dir, name+"_in.png"))
		for _, sz := range [][2]int{{224, 224}, {32, 32}, {60, 45}, {336, 224}, {17, 300}} {
			savePNG(t, ResizeBicubic(src, sz[0], sz[1]), filepath.Join(dir, fmt.Sprintf("%s_resize_%d_%d.png", name, sz[0], sz[1])))
		}
		savePNG(t, Prepare(src, ShorterSideCrop, 224), filepath.Join(dir, name+"_test224.png"))
		savePNG(t, Prepare(src, ShorterSideCrop, 32), filepath.Join(dir, name+"_test32.png"))
		ops := map[string]*Image{
			"autocontrast": AutoContrast(src), "equalize": Equalize(src), "invert": Invert(src),
			"posterize": Posterize(src, 5), "solarize": Solarize(src, 256.0*10/30), "solarizeadd": SolarizeAdd(src, 110.0*10/30, 128),
			"color": Color(src, 0.7), "contrast": Contrast(src, 0.7), "brightness": Brightness(src, 0.7), "sharpness": Sharpness(src, 0.7),
			"color19": Color(src, 1.9), "contrast19": Contrast(src, 1.9), "sharpness19": Sharpness(src, 1.9),
			"rotp": Rotate(src, 10), "rotm": Rotate(src, -10), "rot25": Rotate(src, 25.3),
			"shearxp": ShearX(src, 0.1), "shearxm": ShearX(src, -0.1), "shearyp": ShearY(src, 0.1), "shearym": ShearY(src, -0.1),
			"txp": TranslateX(src, 100.0*10/30), "txm": TranslateX(src, -100.0*10/30), "typ": TranslateY(src, 100.0*10/30), "tym": TranslateY(src, -100.0*10/30),
			"cutout": CutoutAbs(src, 20.7, 11.2, 40.0*10/30), "cutout2": CutoutAbs(src, float64(src.Width), float64(src.Height), 40.0*10/30),
		}
		for op, img := range ops {
			savePNG(t, img, filepath.Join(dir, name+"_op_"+op+".png"))
		}
	}
}
