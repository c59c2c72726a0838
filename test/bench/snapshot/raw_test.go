package snapshotbench

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// rawPut uploads the file with a plain parallel multipart upload (no
// checksums): the ceiling for publishing.
func rawPut(ctx context.Context, c *s3.Client, bucket, key, path string, partSize int64, conc int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return err
	}
	n := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i := range n {
		off := int64(i) * partSize
		ln := min(partSize, size-off)
		g.Go(func() error {
			out, err := c.UploadPart(gctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: io.NewSectionReader(f, off, ln), ContentLength: aws.Int64(ln)})
			if err != nil {
				return err
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

// rawGet downloads the object with plain parallel ranged GETs into a new
// file (no pinning, no checksum): the ceiling for a bootstrap's download.
func rawGet(ctx context.Context, c *s3.Client, bucket, key, dst string, size, partSize int64, conc int) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for off := int64(0); off < size; off += partSize {
		ln := min(partSize, size-off)
		g.Go(func() error {
			out, err := c.GetObject(gctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key,
				Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+ln-1))})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			_, err = io.Copy(io.NewOffsetWriter(f, off), out.Body)
			return err
		})
	}
	return g.Wait()
}
