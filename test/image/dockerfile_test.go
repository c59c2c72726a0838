package image

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, COPY, RUN, ...
	args string
}

// stage is one FROM and the instructions under it.
type stage struct {
	from  string // the image reference
	name  string // the AS name, or ""
	instr []instruction
}

// dockerfile is what the checks need of a parsed Dockerfile.
type dockerfile struct {
	args   map[string]string // ARGs before the first FROM, with their defaults
	stages []stage
}

// parseDockerfile reads the subset of the Dockerfile syntax the project's
// Dockerfile uses: comments, backslash continuations, ARG before FROM, FROM
// ... AS name, and instructions inside stages.
func parseDockerfile(text string) (dockerfile, error) {
	d := dockerfile{args: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	var cur strings.Builder
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(line)
		if err := d.add(strings.TrimSpace(cur.String())); err != nil {
			return d, fmt.Errorf("line %d: %w", n, err)
		}
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		return d, fmt.Errorf("read: %w", err)
	}
	if cur.Len() > 0 {
		return d, fmt.Errorf("line %d: a continuation runs past the end", n)
	}
	if len(d.stages) == 0 {
		return d, fmt.Errorf("no FROM")
	}
	return d, nil
}

func (d *dockerfile) add(line string) error {
	cmd, args, _ := strings.Cut(line, " ")
	in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
	switch {
	case in.cmd == "FROM":
		f := strings.Fields(in.args)
		f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
		if len(f) == 0 {
			return fmt.Errorf("FROM without an image")
		}
		s := stage{from: f[0]}
		if len(f) == 3 && strings.EqualFold(f[1], "AS") {
			s.name = f[2]
		} else if len(f) != 1 {
			return fmt.Errorf("FROM %q: want IMAGE [AS NAME]", in.args)
		}
		d.stages = append(d.stages, s)
	case len(d.stages) == 0 && in.cmd == "ARG":
		k, v, _ := strings.Cut(in.args, "=")
		d.args[k] = v
	case len(d.stages) == 0:
		return fmt.Errorf("%s before the first FROM", in.cmd)
	default:
		s := &d.stages[len(d.stages)-1]
		s.instr = append(s.instr, in)
	}
	return nil
}

// final is the stage that becomes the image.
func (d dockerfile) final() stage { return d.stages[len(d.stages)-1] }

// copies returns the destinations of the stage's COPY --from instructions.
func (s stage) copies() ([]string, error) {
	var dst []string
	for _, in := range s.instr {
		if in.cmd != "COPY" {
			continue
		}
		f := strings.Fields(in.args)
		if len(f) != 3 || !strings.HasPrefix(f[0], "--from=") {
			return nil, fmt.Errorf("COPY %q: want --from=STAGE SRC DST", in.args)
		}
		dst = append(dst, f[2])
	}
	return dst, nil
}

// last returns the args of the stage's last instruction cmd, or "".
func (s stage) last(cmd string) string {
	for _, in := range slices.Backward(s.instr) {
		if in.cmd == cmd {
			return in.args
		}
	}
	return ""
}

var cmdPackage = regexp.MustCompile(`\./cmd/([a-z0-9-]+)`)

// TestDockerfile checks the Dockerfile against the image rootfs: the final
// stage copies exactly the binaries hack/imagerootfs installs, to the same
// paths, from a build of the same commands, onto the distroless nonroot base
// as user 65532, with the Go version of go.mod.
func TestDockerfile(t *testing.T) {
	text, err := os.ReadFile(repoPath(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDockerfile(string(text))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	fin := d.final()
	if fin.from != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage FROM %s, want the distroless static nonroot base", fin.from)
	}
	if u := fin.last("USER"); u != "65532:65532" {
		t.Errorf("USER %q, want 65532:65532", u)
	}
	dst, err := fin.copies()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dst)
	rootfs := rootfsBinaries(t)
	if !slices.Equal(dst, rootfs) {
		t.Errorf("the Dockerfile copies %v, the image rootfs holds %v", dst, rootfs)
	}
	var built []string
	for _, m := range cmdPackage.FindAllStringSubmatch(d.stages[0].last("RUN"), -1) {
		built = append(built, "/usr/local/bin/"+m[1])
	}
	slices.Sort(built)
	if !slices.Equal(built, rootfs) {
		t.Errorf("the Dockerfile builds %v, the image rootfs holds %v", built, rootfs)
	}
	checkBuildFlags(t, d.stages[0].last("RUN"))
	if want := goDirective(t); d.args["GO_VERSION"] != want {
		t.Errorf("Dockerfile GO_VERSION=%s, go.mod says go %s", d.args["GO_VERSION"], want)
	}
}

// checkBuildFlags checks the build stage's go build against what the
// binaries need: static (CGO_ENABLED=0), reproducible paths, and the
// version variable the Makefile's LDFLAGS set.
func checkBuildFlags(t *testing.T, run string) {
	t.Helper()
	mk, err := os.ReadFile(repoPath(t, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=.*(-X \S+=)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile sets no -X version flag in LDFLAGS")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", string(m[1])} {
		if !strings.Contains(run, want) {
			t.Errorf("the Dockerfile's build lacks %q:\n%s", want, run)
		}
	}
}

// goDirective returns go.mod's go version as major.minor.
func goDirective(t *testing.T) string {
	b, err := os.ReadFile(repoPath(t, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// rootfsBinaries lists the rootfs's /usr/local/bin as image paths.
func rootfsBinaries(t *testing.T) []string {
	ents, err := os.ReadDir(rootfs(t).dir + "/usr/local/bin")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, path.Join("/usr/local/bin", e.Name()))
	}
	return out
}

func TestParseDockerfile(t *testing.T) {
	tests := []struct {
		name, text, err string
		stages          int
		copies          []string
	}{
		{name: "two stages", stages: 2, copies: []string{"/b"}, text: "ARG V=1\nFROM --platform=x golang:${V} AS build\nRUN go build \\\n  ./cmd/a\n\nFROM scratch\n# c\nCOPY --from=build /a /b\n"},
		{name: "empty", text: "# nothing\n", err: "no FROM"},
		{name: "RUN first", text: "RUN x\nFROM y\n", err: "before the first FROM"},
		{name: "dangling continuation", text: "FROM y\nRUN a \\\n", err: "past the end"},
		{name: "bad FROM", text: "FROM a b\n", err: "want IMAGE"},
		{name: "FROM nothing", text: "FROM --platform=x\n", err: "without an image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := parseDockerfile(tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(d.stages) != tt.stages {
				t.Fatalf("%d stages, want %d", len(d.stages), tt.stages)
			}
			got, err := d.final().copies()
			if err != nil || !slices.Equal(got, tt.copies) {
				t.Fatalf("copies %v (%v), want %v", got, err, tt.copies)
			}
		})
	}
}

func FuzzParseDockerfile(f *testing.F) {
	f.Add("ARG A=1\nFROM a AS b\nRUN x \\\n y\nCOPY --from=b /x /y\nUSER 1:1\n")
	f.Fuzz(func(t *testing.T, text string) {
		d, err := parseDockerfile(text)
		if err != nil {
			return
		}
		// A parsed file always has a final stage to inspect.
		fin := d.final()
		_, _ = fin.copies()
		_ = fin.last("USER")
	})
}
