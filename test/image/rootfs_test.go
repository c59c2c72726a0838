package image

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// version is what the test links into the binaries, to find it in
// `whycache --version`.
const version = "v0.0.0-imagetest"

// built is the image rootfs, built once for the package's tests.
type built struct {
	dir, tar string
	err      error
}

var (
	buildOnce sync.Once
	image     built
	tmpRoot   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

// repoPath returns a path inside the repository (the tests run in test/image).
func repoPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rootfs builds the image rootfs with hack/imagerootfs, as `make image-rootfs`
// does, the first time a test asks for it.
func rootfs(t *testing.T) built {
	t.Helper()
	buildOnce.Do(func() {
		tmpRoot, image.err = os.MkdirTemp("", "whycache-image-")
		if image.err != nil {
			return
		}
		image.dir, image.tar = filepath.Join(tmpRoot, "rootfs"), filepath.Join(tmpRoot, "rootfs.tar")
		cmd := exec.Command("go", "run", "./hack/imagerootfs", "-out", image.dir, "-tar", image.tar,
			"-ldflags", "-s -w -X github.com/whycache/whycache/internal/version.Version="+version)
		cmd.Dir = repoPath(t, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			image.err = errors.New("hack/imagerootfs: " + err.Error() + "\n" + string(out))
		}
	})
	if image.err != nil {
		t.Fatal(image.err)
	}
	return image
}

// TestStatic checks that every binary is statically linked: no program
// interpreter and no shared libraries, as distroless/static has none.
func TestStatic(t *testing.T) {
	for _, b := range rootfsBinaries(t) {
		t.Run(filepath.Base(b), func(t *testing.T) {
			if problems := dynamic(t, filepath.Join(rootfs(t).dir, b)); len(problems) > 0 {
				t.Errorf("not static: %v", problems)
			}
		})
	}
}

// TestStaticCheckFindsDynamic checks the check itself on a dynamically
// linked binary of the host.
func TestStaticCheckFindsDynamic(t *testing.T) {
	const sh = "/bin/sh" // dash, linked to the C library on Debian
	if _, err := os.Stat(sh); err != nil {
		t.Skipf("no %s: %v", sh, err)
	}
	if problems := dynamic(t, sh); len(problems) != 2 {
		t.Fatalf("%s: found %v, want its interpreter and its libraries", sh, problems)
	}
}

// dynamic lists what makes an ELF binary depend on the system: a program
// interpreter (PT_INTERP) and shared libraries (DT_NEEDED).
func dynamic(t *testing.T, path string) []string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var problems []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			problems = append(problems, "a program interpreter (PT_INTERP)")
		}
	}
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		t.Fatal(err)
	}
	if len(needed) > 0 {
		problems = append(problems, fmt.Sprintf("shared libraries %v", needed))
	}
	return problems
}

// TestRun runs the binaries from the rootfs with an empty environment: as
// user 65532 inside a chroot of it when the test runs as root, else in place.
func TestRun(t *testing.T) {
	tests := []struct {
		bin, want string
		args      []string
	}{
		{bin: "whycache", args: []string{"--version"}, want: version},
		{bin: "whycache", args: []string{"agent", "--help"}, want: "--store"},
		{bin: "whycache-operator", args: []string{"--help"}, want: "-agent-image"},
	}
	fs := rootfs(t)
	for _, tt := range tests {
		t.Run(tt.bin+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(filepath.Join(fs.dir, "usr/local/bin", tt.bin), tt.args...)
			cmd.Env, cmd.Dir = []string{}, fs.dir
			if os.Geteuid() == 0 {
				cmd.Path, cmd.Dir = "/usr/local/bin/"+tt.bin, "/"
				cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: fs.dir,
					Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("%v printed %q, want it to contain %q", cmd.Args, out, tt.want)
			}
		})
	}
}

// want is the ownership and mode of each entry of the image.
var want = map[string]struct {
	mode     int64
	uid, gid int
}{
	"etc/":                              {0o755, 0, 0},
	"etc/group":                         {0o644, 0, 0},
	"etc/passwd":                        {0o644, 0, 0},
	"etc/ssl/":                          {0o755, 0, 0},
	"etc/ssl/certs/":                    {0o755, 0, 0},
	"etc/ssl/certs/ca-certificates.crt": {0o644, 0, 0},
	"home/":                             {0o755, 0, 0},
	"home/nonroot/":                     {0o700, 65532, 65532},
	"root/":                             {0o700, 0, 0},
	"tmp/":                              {0o1777, 0, 0},
	"usr/":                              {0o755, 0, 0},
	"usr/local/":                        {0o755, 0, 0},
	"usr/local/bin/":                    {0o755, 0, 0},
	"usr/local/bin/whycache":            {0o755, 0, 0},
	"usr/local/bin/whycache-operator":   {0o755, 0, 0},
}

// TestTarball checks the tarball's entries: the files of the rootfs folder,
// owned by root (but the nonroot user's home), nothing writable by others but
// the sticky /tmp, and users, groups and CA certificates that work.
func TestTarball(t *testing.T) {
	fs := rootfs(t)
	f, err := os.Open(fs.tar)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		w, ok := want[h.Name]
		switch {
		case !ok:
			t.Errorf("unexpected entry %s", h.Name)
		case h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid:
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", h.Name, h.Mode, h.Uid, h.Gid, w.mode, w.uid, w.gid)
		}
		if h.Mode&0o002 != 0 && h.Mode&0o1000 == 0 {
			t.Errorf("%s is writable by everyone and not sticky", h.Name)
		}
		if h.Typeflag == tar.TypeReg && !strings.HasPrefix(h.Name, "usr/") {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = b
		}
	}
	if len(names) != len(want) {
		t.Errorf("tarball holds %d entries, want %d: %v", len(names), len(want), names)
	}
	checkFolder(t, fs.dir, names)
	checkIdentity(t, files)
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(files["etc/ssl/certs/ca-certificates.crt"]) {
		t.Error("the CA bundle holds no PEM certificate")
	}
}

// checkFolder checks that the rootfs folder holds the tarball's entries.
func checkFolder(t *testing.T, dir string, names []string) {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			rel += "/"
		}
		got = append(got, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	names = slices.Sorted(slices.Values(names))
	if !slices.Equal(got, names) {
		t.Errorf("the folder holds %v, the tarball %v", got, names)
	}
}

// checkIdentity checks that uid and gid 65532 are named nonroot, with its
// home, and root is uid 0.
func checkIdentity(t *testing.T, files map[string][]byte) {
	t.Helper()
	for _, c := range []struct{ file, line string }{
		{"etc/passwd", "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{"etc/passwd", "root:x:0:0:"},
		{"etc/group", "nonroot:x:65532:\n"},
	} {
		if !bytes.Contains(files[c.file], []byte(c.line)) {
			t.Errorf("%s lacks %q:\n%s", c.file, c.line, files[c.file])
		}
	}
}

// TestMissingCABundle checks that the builder refuses, with a clear error, a
// host without the CA bundle, instead of building an image that cannot
// reach S3 or a database over TLS.
func TestMissingCABundle(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./hack/imagerootfs", "-out", filepath.Join(out, "rootfs"),
		"-ca-bundle", filepath.Join(out, "missing.crt"))
	cmd.Dir = repoPath(t, ".")
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("built without a CA bundle:\n%s", b)
	}
	if !strings.Contains(string(b), "CA bundle") || !strings.Contains(string(b), "missing.crt") {
		t.Fatalf("error does not name the CA bundle:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(out, "rootfs")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("left a partial rootfs behind (stat: %v)", err)
	}
}
