package snapshot_test

import (
	"testing"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/snapshot"
)

// NewTestS3 returns an S3 store on the test server whose keys all live
// under prefix (so tests sharing the bucket do not meet), with the
// smallest part size so that small files exercise multipart uploads.
func NewTestS3(t *testing.T, cfg testserver.S3Config, prefix string) snapshot.Store {
	t.Helper()
	loc, err := snapshot.ParseURL(cfg.URL(prefix))
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.NewS3Store(t.Context(), loc, snapshot.S3Options{
		Credentials: snapshot.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey},
		PartSize:    5 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	return snapshot.WithKeyPrefix(s, prefix+"/")
}
