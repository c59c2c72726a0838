package snapshot_test

import (
	"testing"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/snapshot"
	"github.com/whycache/whycache/pkg/snapshot/storetest"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func TestDirStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) snapshot.Store {
		s, err := snapshot.NewDirStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestS3Store runs the suite against a real S3-compatible server
// (versitygw), each test under a prefix of its own.
func TestS3Store(t *testing.T) {
	cfg := testserver.S3(t)
	storetest.Run(t, func(t *testing.T) snapshot.Store {
		return NewTestS3(t, cfg, testserver.S3Prefix())
	})
}
