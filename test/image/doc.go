// Package image checks the container image's filesystem without a container
// engine: it builds it with hack/imagerootfs (what `make image-rootfs` runs)
// and proves that the binaries are static and run from it, that ownership
// and modes are those of a nonroot distroless image, and that the Dockerfile
// copies exactly the binaries the rootfs holds, so the two cannot drift.
package image
