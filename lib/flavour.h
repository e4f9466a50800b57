// The build's flavour: default or checked (--config=checked, the //lib:flavour setting, which
// //lib:core turns into FREEBUMP_CHECKED=1 for everything built on the core).
//
// The default flavour checks what costs next to nothing on the fast paths: each header tag's
// 16-bit check (a double free, an invalid or interior pointer, a damaged header), the free
// lists' links as they are followed, requests too large. The checked flavour adds, in the
// spirit of Scudo's hardened allocator, what costs time or memory:
//
//   - a per-process random key in every tag's check, where the platform has a random source
//     (Linux), so a forged or replayed tag is as unlikely to pass in one run as in another;
//   - freed payloads poisoned (their first kPoisonedBytes, see heap.h) and verified when the
//     block is handed out again: a write after free is reported instead of handed on;
//   - a quarantine: freed blocks wait (per heap, the last kQuarantineBlocks frees, at most
//     kQuarantineBytes) before they are reused, so a stale free of a pointer whose block would
//     have been handed out again meets a freed block and is a double free;
//   - the allocation's origin (header_tag.h, Origin) in its tag, so that a block freed by the
//     wrong function (free of new, delete of new[], ...) is reported.
//
// Its code is compiled only into checked builds (`if constexpr (kChecked)`, or #if where a
// declaration differs): the default flavour's code is what it was without it.
#ifndef FREEBUMP_LIB_FLAVOUR_H_
#define FREEBUMP_LIB_FLAVOUR_H_

#ifndef FREEBUMP_CHECKED
#error "FREEBUMP_CHECKED comes from //lib:core (the flavour setting, lib/flavour.bzl)"
#endif

namespace freebump {

inline constexpr bool kChecked = FREEBUMP_CHECKED != 0;

}  // namespace freebump

#endif  // FREEBUMP_LIB_FLAVOUR_H_
