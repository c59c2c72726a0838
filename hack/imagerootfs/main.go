// Command imagerootfs builds the filesystem of the whycache image without a
// container engine: the static binaries the Dockerfile copies, at the same
// paths, and what the distroless base adds that they need (/etc/passwd and
// /etc/group with the nonroot user 65532, the CA bundle, /tmp, the home
// directories). It writes the tree into a folder and, with -tar, a tarball
// whose entries carry the ownership and modes the image has (the folder gets
// them only when run as root). test/image checks the result against the
// Dockerfile, so `make image-rootfs` proves the image's build here.
//
//	go run ./hack/imagerootfs -out out/rootfs -tar out/rootfs.tar -ldflags '-s -w -X ...'
package main

import (
	"archive/tar"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// binaries are the commands the image holds in /usr/local/bin; the
// Dockerfile's final stage copies the same (test/image compares them).
var binaries = []string{"whycache", "whycache-operator"}

// nonroot is the user and group the image runs as.
const nonroot = 65532

// epoch is every entry's modification time, so that the tarball of one
// source tree and version is the same bytes each time.
var epoch = time.Unix(0, 0).UTC()

// entry is one file or directory of the image.
type entry struct {
	path     string // relative to the root, slash-separated
	mode     os.FileMode
	uid, gid int
	dir      bool
	data     []byte // file contents (binaries and the CA bundle are read when built)
	from     string // host file to copy, when data is nil
}

const passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`

const group = `root:x:0:
tty:x:5:
staff:x:50:
nobody:x:65534:
nonroot:x:65532:
`

func main() {
	var o options
	flag.StringVar(&o.out, "out", "", "folder to write the filesystem into (replaced)")
	flag.StringVar(&o.tar, "tar", "", "also write a tarball of it here (optional)")
	flag.StringVar(&o.ldflags, "ldflags", "-s -w", "linker flags of the binaries (the Makefile passes its version flags)")
	flag.StringVar(&o.ca, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to install (Debian's ca-certificates)")
	flag.StringVar(&o.goarch, "goarch", runtime.GOARCH, "architecture of the binaries")
	flag.Parse()
	if o.out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: imagerootfs -out DIR [-tar FILE] [-ldflags FLAGS] [-ca-bundle FILE] [-goarch ARCH]")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "imagerootfs:", err)
		os.Exit(1)
	}
}

type options struct {
	out, tar, ldflags, ca, goarch string
}

func run(o options) error {
	if _, err := os.Stat(o.ca); err != nil {
		return fmt.Errorf("CA bundle (install Debian's ca-certificates or pass -ca-bundle): %w", err)
	}
	if err := os.RemoveAll(o.out); err != nil {
		return fmt.Errorf("clear %s: %w", o.out, err)
	}
	bin := filepath.Join(o.out, "usr", "local", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", bin, err)
	}
	if err := build(o, bin); err != nil {
		return err
	}
	entries := layout(o.ca)
	for _, e := range entries {
		if err := write(o.out, e); err != nil {
			return err
		}
	}
	if o.tar == "" {
		return nil
	}
	return writeTar(o.out, o.tar, entries)
}

// build compiles the binaries as the Dockerfile does: static, without VCS
// stamping (the version comes from -ldflags), time zones embedded.
func build(o options, bin string) error {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-tags", "timetzdata",
		"-ldflags", o.ldflags, "-o", bin + string(filepath.Separator)}
	for _, b := range binaries {
		args = append(args, "./cmd/"+b)
	}
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.goarch)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// layout is every entry of the image, parents before children.
func layout(ca string) []entry {
	dir := func(p string, mode os.FileMode, id int) entry {
		return entry{path: p, mode: mode, uid: id, gid: id, dir: true}
	}
	es := []entry{
		dir("etc", 0o755, 0),
		dir("etc/ssl", 0o755, 0),
		dir("etc/ssl/certs", 0o755, 0),
		dir("home", 0o755, 0),
		dir("home/nonroot", 0o700, nonroot),
		dir("root", 0o700, 0),
		dir("tmp", 0o777|os.ModeSticky, 0),
		dir("usr", 0o755, 0),
		dir("usr/local", 0o755, 0),
		dir("usr/local/bin", 0o755, 0),
		{path: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{path: "etc/group", mode: 0o644, data: []byte(group)},
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, from: ca},
	}
	for _, b := range binaries {
		es = append(es, entry{path: "usr/local/bin/" + b, mode: 0o755})
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].path < es[j].path })
	return es
}

// write creates e under root (a binary is already there: only its mode is
// set) with its mode, and its owner when running as root.
func write(root string, e entry) error {
	p := filepath.Join(root, filepath.FromSlash(e.path))
	switch {
	case e.dir:
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
	case e.data != nil:
		if err := os.WriteFile(p, e.data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	case e.from != "":
		if err := copyFile(e.from, p); err != nil {
			return err
		}
	}
	if err := os.Chmod(p, e.mode); err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(p, e.uid, e.gid); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("read %s: %w", from, err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", to, err)
	}
	return nil
}

// writeTar writes the entries, read back from root, into a tarball with the
// image's ownership and modes and a fixed time.
func writeTar(root, path string, entries []entry) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", path, cerr)
		}
	}()
	tw := tar.NewWriter(f)
	for _, e := range entries {
		if err := addToTar(tw, root, e); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func addToTar(tw *tar.Writer, root string, e entry) error {
	h := &tar.Header{Name: e.path, Mode: int64(e.mode.Perm()), Uid: e.uid, Gid: e.gid,
		Uname: owner(e.uid), Gname: owner(e.gid), ModTime: epoch, Format: tar.FormatPAX}
	if e.mode&os.ModeSticky != 0 {
		h.Mode |= 0o1000
	}
	if e.dir {
		h.Typeflag, h.Name = tar.TypeDir, e.path+"/"
		return tw.WriteHeader(h)
	}
	f, err := os.Open(filepath.Join(root, filepath.FromSlash(e.path)))
	if err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	h.Typeflag, h.Size = tar.TypeReg, st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("tar %s: %w", e.path, err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("tar %s: %w", e.path, err)
	}
	return nil
}

func owner(id int) string {
	if id == nonroot {
		return "nonroot"
	}
	return "root"
}
