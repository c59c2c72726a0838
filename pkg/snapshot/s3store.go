package snapshot

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// Defaults for S3 transfers.
const (
	// DefaultPartSize is the part size of multipart uploads and ranged
	// downloads: 16 MiB.
	DefaultPartSize = 16 << 20
	// DefaultConcurrency is how many parts are in flight at once.
	DefaultConcurrency = 8
	// minPartSize is S3's smallest part (but the last).
	minPartSize = 5 << 20
	// maxParts is S3's largest number of parts.
	maxParts = 10000
)

// Credentials are explicit S3 credentials (from a Kubernetes Secret, say).
// The zero value means the SDK's default chain.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// S3Options configure an [S3Store].
type S3Options struct {
	// Credentials, when set, replace the SDK's default chain.
	Credentials Credentials
	// PartSize is the multipart upload part size; 0 means DefaultPartSize.
	PartSize int64
	// Concurrency bounds the parts uploaded at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// HTTPClient, when set, replaces the SDK's HTTP client.
	HTTPClient *http.Client
}

// S3Store is a [Store] in an S3 bucket under a location's settings. Keys are
// relative to the bucket (the layout adds the prefix).
type S3Store struct {
	client *s3.Client
	bucket string
	opts   S3Options
}

// NewS3Store returns a store for the bucket of loc (an s3:// location).
func NewS3Store(ctx context.Context, loc Location, opts S3Options) (*S3Store, error) {
	if loc.Bucket == "" {
		return nil, fmt.Errorf("s3 store: no bucket: %w", ErrInvalid)
	}
	var lopts []func(*awsconfig.LoadOptions) error
	if loc.Region != "" {
		lopts = append(lopts, awsconfig.WithRegion(loc.Region))
	}
	if c := opts.Credentials; c.AccessKeyID != "" {
		lopts = append(lopts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, lopts...)
	if err != nil {
		return nil, fmt.Errorf("s3 store: load AWS config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if loc.Endpoint != "" {
			o.BaseEndpoint = aws.String(loc.Endpoint)
		}
		o.UsePathStyle = loc.PathStyle
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
		// Checksums are asked for explicitly where they matter (the
		// full-object CRC64NVME of an upload); the SDK's defaults would add
		// a second one to every small PUT.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	if opts.PartSize == 0 {
		opts.PartSize = DefaultPartSize
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.PartSize < minPartSize {
		return nil, fmt.Errorf("s3 store: part size %d below S3's minimum %d: %w", opts.PartSize, minPartSize, ErrInvalid)
	}
	return &S3Store{client: client, bucket: loc.Bucket, opts: opts}, nil
}

// mapErr turns S3's answers into the package's sentinel errors.
func mapErr(op, key string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return fmt.Errorf("%s %s: %w", op, key, ErrNotFound)
		case "PreconditionFailed", "ConditionalRequestConflict":
			return fmt.Errorf("%s %s: %w (%v)", op, key, ErrPrecondition, apiErr.ErrorMessage())
		}
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%s %s: %w", op, key, ErrNotFound)
		case http.StatusPreconditionFailed, http.StatusConflict:
			return fmt.Errorf("%s %s: %w", op, key, ErrPrecondition)
		}
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

func unquote(etag *string) string { return strings.Trim(aws.ToString(etag), `"`) }

// PutBytes writes a small object with PutObject, conditionally when asked.
func (s *S3Store) PutBytes(ctx context.Context, key string, data []byte, cond Condition) (ObjectInfo, error) {
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data)))}
	if cond.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if cond.IfMatch != "" {
		in.IfMatch = aws.String(`"` + cond.IfMatch + `"`)
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		err = mapErr("put", key, err)
		if cond.IfMatch != "" && errors.Is(err, ErrNotFound) {
			// S3 answers If-Match on a missing key with 404: the
			// condition failed all the same.
			err = fmt.Errorf("put %s: if-match %s: object missing: %w", key, cond.IfMatch, ErrPrecondition)
		}
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: int64(len(data)), ETag: unquote(out.ETag)}, nil
}

// GetBytes reads an object whole.
func (s *S3Store) GetBytes(ctx context.Context, key string) ([]byte, ObjectInfo, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, ObjectInfo{}, mapErr("get", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	return b, ObjectInfo{Key: key, Size: int64(len(b)), ETag: unquote(out.ETag), Modified: aws.ToTime(out.LastModified)}, nil
}

// Stat heads an object, with its checksum.
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key,
		ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return ObjectInfo{}, mapErr("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: unquote(out.ETag),
		CRC64NVME: aws.ToString(out.ChecksumCRC64NVME), Modified: aws.ToTime(out.LastModified)}, nil
}

// ReadRange GETs a byte range pinned to the ETag with If-Match.
func (s *S3Store) ReadRange(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n <= 0 {
		return nil, fmt.Errorf("read %s: range %d+%d: %w", key, off, n, ErrInvalid)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key,
		IfMatch: aws.String(`"` + etag + `"`), Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))})
	if err != nil {
		err = mapErr("read", key, err)
		if errors.Is(err, ErrPrecondition) {
			return nil, fmt.Errorf("read %s at ETag %s: %w", key, etag, ErrChanged)
		}
		return nil, err
	}
	if aws.ToInt64(out.ContentLength) != n {
		out.Body.Close()
		return nil, fmt.Errorf("read %s: asked %d bytes at %d, got %d: %w", key, n, off, aws.ToInt64(out.ContentLength), ErrInvalid)
	}
	return out.Body, nil
}

// List lists the objects under prefix, page by page.
func (s *S3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapErr("list", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, ObjectInfo{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size),
				ETag: unquote(o.ETag), Modified: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}

// Delete removes an object.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		if err = mapErr("delete", key, err); errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// PutFile uploads a file: one PutObject when it fits in one part, else a
// multipart upload with parts in parallel. Either way the request carries
// the full-object CRC64NVME computed here, which the server checks.
func (s *S3Store) PutFile(ctx context.Context, key, path string, progress func(done, total int64)) (ObjectInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	size := fi.Size()
	partSize := s.opts.PartSize
	for size/partSize >= maxParts {
		partSize *= 2
	}
	var etag, crc string
	if size <= partSize {
		if crc, err = fileCRC(ctx, f, size); err != nil {
			return ObjectInfo{}, fmt.Errorf("put %s: checksum: %w", key, err)
		}
		etag, err = s.putSingle(ctx, key, f, size, crc, progress)
	} else {
		etag, crc, err = s.putMultipart(ctx, key, f, size, partSize, progress)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: size, ETag: etag, CRC64NVME: crc}, nil
}

func fileCRC(ctx context.Context, f *os.File, size int64) (string, error) {
	h := NewCRC64NVME()
	if _, err := io.Copy(h, &progressReader{ctx: ctx, r: io.NewSectionReader(f, 0, size)}); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

func (s *S3Store) putSingle(ctx context.Context, key string, f *os.File, size int64, crc string, progress func(int64, int64)) (string, error) {
	prog := &sharedProgress{total: size, fn: progress}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key,
		Body: prog.section(ctx, f, 0, size), ContentLength: aws.Int64(size),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme, ChecksumCRC64NVME: aws.String(crc)})
	if err != nil {
		return "", mapErr("put", key, err)
	}
	return unquote(out.ETag), nil
}

// putMultipart uploads the parts in parallel while the full-object
// CRC64NVME, needed only to complete the upload, is computed beside them.
func (s *S3Store) putMultipart(ctx context.Context, key string, f *os.File, size, partSize int64, progress func(int64, int64)) (string, string, error) {
	created, err := s.client.CreateMultipartUpload(ctx, multipartInput(s.bucket, key))
	if err != nil {
		return "", "", mapErr("create multipart upload", key, err)
	}
	uploadID := created.UploadId
	crcCh := make(chan error, 1)
	var crc string
	go func() {
		var err error
		crc, err = fileCRC(ctx, f, size)
		crcCh <- err
	}()
	etag, err := s.uploadParts(ctx, key, uploadID, f, size, partSize, func() (string, error) {
		if err := <-crcCh; err != nil {
			return "", fmt.Errorf("put %s: checksum: %w", key, err)
		}
		return crc, nil
	}, progress)
	if err != nil {
		// A new context: the upload's may be the one that ended.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: uploadID})
		return "", "", err
	}
	return etag, crc, nil
}

// multipartInput starts an upload whose checksum is the full object's
// CRC64NVME, given (and checked by the server) on completion.
func multipartInput(bucket, key string) *s3.CreateMultipartUploadInput {
	return &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme, ChecksumType: types.ChecksumTypeFullObject}
}

func (s *S3Store) uploadParts(ctx context.Context, key string, uploadID *string, f *os.File, size, partSize int64,
	fullCRC func() (string, error), progress func(int64, int64)) (string, error) {
	n := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)
	prog := &sharedProgress{total: size, fn: progress}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	for i := range n {
		off := int64(i) * partSize
		ln := min(partSize, size-off)
		num := int32(i + 1)
		g.Go(func() error {
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: uploadID,
				PartNumber: aws.Int32(num), Body: prog.section(gctx, f, off, ln), ContentLength: aws.Int64(ln),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme})
			if err != nil {
				return mapErr(fmt.Sprintf("upload part %d of", num), key, err)
			}
			parts[num-1] = types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC64NVME: out.ChecksumCRC64NVME}
			return nil
		})
	}
	crc, crcErr := fullCRC() // always wait for it, even after a failed part
	if err := g.Wait(); err != nil {
		return "", err
	}
	if crcErr != nil {
		return "", crcErr
	}
	out, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		UploadId: uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		ChecksumType: types.ChecksumTypeFullObject, ChecksumCRC64NVME: aws.String(crc), MpuObjectSize: aws.Int64(size)})
	if err != nil {
		return "", mapErr("complete multipart upload", key, err)
	}
	return unquote(out.ETag), nil
}

// sharedProgress adds up the bytes sent by several part readers.
type sharedProgress struct {
	done  atomic.Int64
	total int64
	fn    func(done, total int64)
}

func (p *sharedProgress) section(ctx context.Context, f *os.File, off, n int64) *partReader {
	return &partReader{ctx: ctx, sr: io.NewSectionReader(f, off, n), p: p}
}

// partReader reads one part of a file, reporting progress; it seeks so
// that the SDK can rewind it for a retry (the retry's bytes count again,
// capped at the total).
type partReader struct {
	ctx context.Context
	sr  *io.SectionReader
	p   *sharedProgress
}

func (r *partReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.sr.Read(b)
	if n > 0 && r.p.fn != nil {
		r.p.fn(min(r.p.done.Add(int64(n)), r.p.total), r.p.total)
	}
	return n, err
}

func (r *partReader) Seek(off int64, whence int) (int64, error) { return r.sr.Seek(off, whence) }
