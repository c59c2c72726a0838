package dirstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// maxNodeName bounds a node name: a Kubernetes node name is a DNS subdomain.
const maxNodeName = 253

// nodeFile is the JSON content of a node's heartbeat file.
type nodeFile struct {
	Node      string    `json:"node"`
	AppliedID uint64    `json:"appliedID"`
	Heartbeat time.Time `json:"heartbeat"`
}

// Heartbeat records a node's applied id and the current time in the file
// nodes/<node>.json, replaced atomically.
func (s *Store) Heartbeat(ctx context.Context, p logstore.NodeProgress) error {
	if err := s.isClosed(); err != nil {
		return err
	}
	if p.Node == "" || len(p.Node) > maxNodeName {
		return fmt.Errorf("dirstore: heartbeat: node name %q must have 1 to %d bytes: %w", p.Node, maxNodeName, logstore.ErrInvalid)
	}
	data, err := json.Marshal(nodeFile{Node: p.Node, AppliedID: p.AppliedID, Heartbeat: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("dirstore: heartbeat: %w", err)
	}
	dir := filepath.Join(s.dir, nodesDir)
	if err := writeFileAtomic(dir, nodeFileName(p.Node), data); err != nil {
		return fmt.Errorf("dirstore: heartbeat of node %q: %w", p.Node, err)
	}
	return nil
}

// Nodes lists the nodes that have sent a heartbeat, by name.
func (s *Store) Nodes(ctx context.Context) ([]logstore.NodeProgress, error) {
	if err := s.isClosed(); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, nodesDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dirstore: list nodes: %w", err)
	}
	var out []logstore.NodeProgress
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		p, err := readNode(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b logstore.NodeProgress) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// readNode reads one heartbeat file.
func readNode(path string) (logstore.NodeProgress, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return logstore.NodeProgress{}, fmt.Errorf("dirstore: read node: %w", err)
	}
	var n nodeFile
	if err := json.Unmarshal(b, &n); err != nil {
		return logstore.NodeProgress{}, fmt.Errorf("dirstore: node file %s: %w", filepath.Base(path), err)
	}
	return logstore.NodeProgress{Node: n.Node, AppliedID: n.AppliedID, Heartbeat: n.Heartbeat}, nil
}

// nodeFileName returns the file name for a node: its name, escaped as a URL
// path segment (with a leading dot escaped too), and ".json".
func nodeFileName(node string) string {
	name := url.PathEscape(node)
	if strings.HasPrefix(name, ".") {
		name = "%2E" + name[1:]
	}
	return name + ".json"
}
