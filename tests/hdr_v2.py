"""An independent reader of HdrHistogram's compressed V2 encoding (base64 "HISTFAAA..."), written
from the published format, plus HdrHistogram's bucket arithmetic. Used by the codec test
(`hdr_v2.py FIXTURE`: checks every slot the C++ side reports) and by the loadtest-merge CLI test.
"""
import base64
import math
import struct
import sys
import zlib


def layout(lowest, highest, digits):
    """HdrHistogram's derived numbers: (unit_magnitude, sub_bucket_half_count_magnitude, counts_len)."""
    largest_single_unit = 2 * 10 ** digits
    sub_bucket_count_magnitude = int(math.ceil(math.log2(largest_single_unit)))
    half_magnitude = max(sub_bucket_count_magnitude, 1) - 1
    unit_magnitude = int(math.floor(math.log2(lowest)))
    sub_bucket_count = 1 << (half_magnitude + 1)
    smallest_untrackable = sub_bucket_count << unit_magnitude
    buckets = 1
    while smallest_untrackable <= highest:
        if smallest_untrackable > (2 ** 63 - 1) // 2:
            buckets += 1
            break
        smallest_untrackable <<= 1
        buckets += 1
    return unit_magnitude, half_magnitude, (buckets + 1) * (sub_bucket_count // 2)


class Hist:
    def __init__(self, lowest, highest, digits, counts):
        self.lowest, self.highest, self.digits = lowest, highest, digits
        self.unit, self.half_mag, self.counts_len = layout(lowest, highest, digits)
        self.half_count = 1 << self.half_mag
        self.counts = counts  # {slot: count}, non-zero only

    def lowest_at(self, index):
        bucket = (index >> self.half_mag) - 1
        sub = (index & (self.half_count - 1)) + self.half_count
        if bucket < 0:
            sub -= self.half_count
            bucket = 0
        return sub << (bucket + self.unit)

    def highest_at(self, index):
        bucket = max((index >> self.half_mag) - 1, 0)
        return self.lowest_at(index) + (1 << (bucket + self.unit)) - 1

    def total(self):
        return sum(self.counts.values())

    def value_at_percentile(self, p):
        """HdrHistogram's rule, as loadtest reports it: the highest equivalent value of the bucket
        where the cumulative count reaches ceil(p/100 * total), in microseconds."""
        total = self.total()
        rank = max(1, min(total, math.ceil(p / 100.0 * total * (1 - 1e-12))))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return self.highest_at(index), index
        raise ValueError("empty histogram")


def _zigzag_leb128(data, pos):
    value, shift = 0, 0
    for i in range(9):
        if pos >= len(data):
            raise ValueError("truncated LEB128")
        b = data[pos]
        pos += 1
        if i == 8:
            value |= b << 56
            break
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return (value >> 1) ^ -(value & 1), pos


def decode(text):
    raw = base64.b64decode(text, validate=True)
    cookie, length = struct.unpack(">iI", raw[:8])
    if cookie & ~0xF0 != 0x1C849304 or cookie != 0x1C849314:
        raise ValueError("compressed cookie %#x" % cookie)
    payload = zlib.decompress(raw[8:8 + length])
    cookie, plen, offset, digits, lowest, highest, ratio = struct.unpack(">iiiiqqd", payload[:40])
    if cookie != 0x1C849313:
        raise ValueError("payload cookie %#x" % cookie)
    if plen != len(payload) - 40 or offset != 0 or ratio != 1.0:
        raise ValueError("header %r" % ((plen, offset, ratio),))
    data = payload[40:]
    counts, index, pos = {}, 0, 0
    while pos < len(data):
        v, pos = _zigzag_leb128(data, pos)
        if v < 0:
            index += -v
        else:
            if v:
                counts[index] = v
            index += 1
    h = Hist(lowest, highest, digits, counts)
    if index > h.counts_len:
        raise ValueError("%d slots > counts_len %d" % (index, h.counts_len))
    return h


def check_fixture(fixture):
    import subprocess
    out = subprocess.run([fixture], check=True, capture_output=True, text=True).stdout.splitlines()
    passed = failed = 0
    i = 0
    while i < len(out):
        _, name, text, lowest, highest, digits, total = out[i].split()
        i += 1
        slots = []
        while out[i] != "E":
            _, slot, count, lo, hi = out[i].split()
            slots.append((int(slot), int(count), int(lo), int(hi)))
            i += 1
        i += 1
        try:
            h = decode(text)
            assert text.startswith("HISTFAAA"), text[:8]
            assert (h.lowest, h.highest, h.digits) == (int(lowest), int(highest), int(digits))
            assert h.total() == int(total), (h.total(), total)
            assert sorted(h.counts.items()) == [(s, c) for s, c, _, _ in slots], "counts differ"
            for s, c, lo, hi in slots:
                assert (h.lowest_at(s), h.highest_at(s)) == (lo, hi), (s, lo, hi, h.lowest_at(s), h.highest_at(s))
            passed += 1
            print("ok   - %s: %d slots, %d values" % (name, len(slots), h.total()))
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            print("FAIL - %s: %r" % (name, e))
    print("hdr_v2: %d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(check_fixture(sys.argv[1]))
