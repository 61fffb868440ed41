//go:build interop

package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binDir holds the exauth binary built for the command-line checks.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var exauthBuild struct {
	once sync.Once
	path string
	out  string
	err  error
}

// exauthBinary builds cmd/exauth once per test run, so the command line,
// its flags and its exit codes are checked too, not only the Go API.
func exauthBinary(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH: cannot build cmd/exauth for the command-line checks")
	}
	exauthBuild.once.Do(func() {
		binDir, exauthBuild.err = os.MkdirTemp("", "exauth-interop-bin-")
		if exauthBuild.err != nil {
			return
		}
		exauthBuild.path = filepath.Join(binDir, "exauth")
		out, err := exec.Command(goTool, "build", "-o", exauthBuild.path, "github.com/exauth/exauth/cmd/exauth").CombinedOutput()
		exauthBuild.out, exauthBuild.err = string(out), err
	})
	if exauthBuild.err != nil {
		t.Fatalf("go build ./cmd/exauth: %v\n%s", exauthBuild.err, exauthBuild.out)
	}
	return exauthBuild.path
}
