package cachefile

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// childEnv selects what a re-executed test binary does: the multi-process
// and crash tests run readers and writers in processes of their own.
const childEnv = "CACHEFILE_TEST_CHILD"

var children = map[string]func() int{}

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		run, ok := children[mode]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
			os.Exit(2)
		}
		os.Exit(run())
	}
	flag.Parse()
	code := m.Run()
	cleanupBenchFixtures()
	os.Exit(code)
}

var seedFlag = flag.Uint64("cachefile.seed", 0, "seed for the randomised tests (default: random; also $CACHEFILE_SEED)")

// testSeed returns the seed of a randomised test and logs it, so that a
// failure can be replayed with -cachefile.seed or CACHEFILE_SEED.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *seedFlag
	if s := os.Getenv("CACHEFILE_SEED"); seed == 0 && s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CACHEFILE_SEED: %v", err)
		}
		seed = v
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -cachefile.seed=%d)", seed, seed)
	return seed
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// crashPoints is the number of kill points of the crash tests: $CRASH_POINTS,
// default 200.
func crashPoints(t testing.TB) int {
	if s := os.Getenv("CRASH_POINTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CRASH_POINTS=%q: want a positive integer", s)
		}
		return n
	}
	return 200
}
