package snapshot

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/whycache/whycache/internal/testserver"
)

// TestS3ChecksFullObjectCRC proves that the server, not only this package,
// checks the full-object CRC64NVME of an upload: a multipart upload
// completed with a wrong one, and a single PUT carrying a wrong one, are
// refused and leave no object.
func TestS3ChecksFullObjectCRC(t *testing.T) {
	cfg := testserver.S3(t)
	loc, err := ParseURL(cfg.URL(testserver.S3Prefix()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewS3Store(t.Context(), loc, S3Options{PartSize: minPartSize,
		Credentials: Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2*minPartSize+100)
	_, _ = rand.Read(data)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wrong := base64.StdEncoding.EncodeToString([]byte("12345678"))
	key := loc.Prefix + "/bad-crc"

	created, err := s.client.CreateMultipartUpload(t.Context(), multipartInput(s.bucket, key))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.uploadParts(t.Context(), key, created.UploadId, f, int64(len(data)), minPartSize,
		func() (string, error) { return wrong, nil }, nil)
	if err == nil {
		t.Fatal("the server completed a multipart upload with a wrong full-object CRC64NVME")
	}
	t.Logf("multipart refused: %v", err)
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the refused upload: %v, want ErrNotFound", err)
	}

	small := filepath.Join(t.TempDir(), "small")
	if err := os.WriteFile(small, data[:1000], 0o644); err != nil {
		t.Fatal(err)
	}
	sf, err := os.Open(small)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	if _, err := s.putSingle(t.Context(), key, sf, 1000, wrong, nil); err == nil {
		t.Fatal("the server stored a single PUT with a wrong CRC64NVME")
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the refused PUT: %v, want ErrNotFound", err)
	}
}
