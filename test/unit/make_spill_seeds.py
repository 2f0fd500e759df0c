#!/usr/bin/env python3
# make_spill_seeds.py
#	Writes the seeds of fuzz_spill into corpus/fuzz_spill, encoding spills
#	from the format described in src/spill.h, independently of
#	src/spill.c: test_spill reads the seeds back, which checks that the
#	code and the description agree.  Run from test/unit.
import os
import struct


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def spill(entries, per_block=1000):
    """entries: sorted (key, [TIDs]) with 1..256 ascending TIDs each."""
    blocks = [entries[i:i + per_block] for i in range(0, len(entries), per_block)]
    if not blocks:
        blocks = [[]]
    out = bytearray()
    for bno, blk in enumerate(blocks):
        payload = bytearray()
        prev = b''
        for j, (key, tids) in enumerate(blk):
            shared = 0
            if j > 0:
                while (shared < min(len(key), len(prev))
                       and key[shared] == prev[shared]):
                    shared += 1
            multi = 1 if len(tids) > 1 else 0
            payload += varint(shared) + varint(((len(key) - shared) << 1) | multi)
            payload += key[shared:]
            if multi:
                payload += varint(len(tids) - 2)
            payload += varint(tids[0] >> 16) + varint(tids[0] & 0xFFFF)
            for a, b in zip(tids, tids[1:]):
                payload += varint(b - a - 1)
            prev = key
        last = 1 if bno == len(blocks) - 1 else 0
        rest = struct.pack('<IIHH', bno, len(payload), len(blk), last) + payload
        out += struct.pack('<I', crc32c(rest)) + rest
    return bytes(out)


def main():
    paths = sorted(set(line.rstrip('\n').encode()
                       for line in list(open('../data/debian-paths.txt'))[:300]))
    ents = [(k, [(i // 40) << 16 | (i % 40 + 1)]) for i, k in enumerate(paths)]
    # mode byte first: 0 read as is, 1 read restamped, 2 pairs round trip
    seeds = {
        'empty': b'\x00' + spill([]),
        'one': b'\x00' + spill([(b'usr/bin/ls', [65537])]),
        'paths': b'\x00' + spill(ents, per_block=100),
        'paths_restamp': b'\x01' + spill(ents[:50], per_block=20),
        'many_tids': b'\x00' + spill([(b'k', list(range(5, 5 + 256))),
                                      (b'k', list(range(400, 500))),
                                      (b'ka', [1, 2])]),
        'long_key': b'\x01' + spill([(b'x' * 2700, [7]), (b'y', [1])]),
        'empty_key': b'\x00' + spill([(b'', [1, 2, 3]), (b'\x00', [0]),
                                      (b'\xff', [1 << 47])]),
        'pairs': bytes([2, 3]) + b''.join(bytes([len(k[:60])]) + k[:60] +
                                          bytes([i % 7, i % 5])
                                          for i, k in enumerate(paths[:60])),
        'pairs_long': bytes([2, 0, 255, ord('a'), 0, 1, 255, ord('a'), 0, 2, 3]) +
        b'abc\x00\x01',
    }
    os.makedirs('corpus/fuzz_spill', exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join('corpus/fuzz_spill', name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
