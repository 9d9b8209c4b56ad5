package rules

// What capture_test.go, an external test (it drives package apply, which
// imports this one), needs of this package's tests.
var (
	Update       = update
	SavePath     = savePath
	SaveBackends = saveBackends
)

// SaveCases are saveCases, with their fields readable outside.
func SaveCases() (names []string, cfgs []Config) {
	for _, c := range saveCases() {
		names, cfgs = append(names, c.name), append(cfgs, c.cfg)
	}
	return names, cfgs
}
