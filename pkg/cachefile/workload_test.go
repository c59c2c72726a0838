package cachefile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/zeebo/xxh3"
)

// genBatch returns the deterministic batch of update id of a workload: the
// crash and multi-process tests regenerate any batch from (seed, id), so a
// parent and its child processes agree on the log without sharing it.
func genBatch(seed, id uint64, keySpace int) []Op {
	rng := newRand(seed ^ id*0x9e3779b97f4a7c15)
	n := 1 + rng.IntN(12)
	if rng.IntN(20) == 0 {
		n = 50 + rng.IntN(150)
	}
	ops := make([]Op, n)
	for i := range ops {
		k := []byte(fmt.Sprintf("k%05d", rng.IntN(keySpace)))
		if rng.IntN(6) == 0 {
			ops[i] = Op{Delete: true, Key: k}
			continue
		}
		size := rng.IntN(200)
		if rng.IntN(30) == 0 {
			size = 2000 + rng.IntN(6000)
		}
		ops[i] = Op{Key: k, Value: stampValue(id, k, size)}
	}
	return ops
}

// stampValue builds a self-checking value: the update id it was written at,
// its key's length and the key, filler, and a CRC-32C of all that.
func stampValue(id uint64, key []byte, filler int) []byte {
	v := make([]byte, 0, 8+2+len(key)+filler+4)
	v = binary.LittleEndian.AppendUint64(v, id)
	v = binary.LittleEndian.AppendUint16(v, uint16(len(key)))
	v = append(v, key...)
	for i := range filler {
		v = append(v, byte(int(id)+i))
	}
	return binary.LittleEndian.AppendUint32(v, crc32.Checksum(v, castagnoli))
}

// checkStamp checks a value built by stampValue for key and returns its id.
func checkStamp(key, v []byte) (uint64, error) {
	if len(v) < 14 {
		return 0, fmt.Errorf("torn value for %q: %d bytes", key, len(v))
	}
	body, sum := v[:len(v)-4], binary.LittleEndian.Uint32(v[len(v)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return 0, fmt.Errorf("torn value for %q: checksum mismatch", key)
	}
	kl := int(binary.LittleEndian.Uint16(v[8:]))
	if 10+kl > len(body) || string(body[10:10+kl]) != string(key) {
		return 0, fmt.Errorf("value for %q belongs to another key", key)
	}
	return binary.LittleEndian.Uint64(v), nil
}

func xxhSeed(b []byte, seed uint64) uint64 { return xxh3.HashSeed(b, seed) }
