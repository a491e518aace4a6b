"""The clause registry: every clause of the ``ffa-1.1-indirect`` profile, as data.

Transcribed from ``shared/spec/ffa-1.1-indirect.md`` (the oracle, vendored here as ``spec.md``), in
the text's order: 99 rows in §1..§12; ``tests/test_clause_registry.py`` checks the IDs against that
file, and ``tests/test_profile_ffa_1_1.py`` every rule and source against its table cells. IDs
REL-6 and WAIT-4 are reserved by the text (§0, §17) and have no row.

``rule`` is the row's Rule cell as written (markdown included); ``source`` its Source column
(``H:`` = Hafnium at 21bfbdc1d3dfb34b8f6849af79a32811944baaf6, ``S:`` = a DEN0077A rule quoted
second-hand, ``X:`` = the same value in two implementations; §0 "Sources"). The §8 table (HDR)
has Offset / Size / Field columns instead of a Rule: its rule reads
``Message header, offset <Offset>, size <Size>: <Field>`` (a ``—`` cell left out).

``impl_defined`` is set exactly for the rows whose *Str.* cell says IMPL-DEF, and says which of
§0's three kinds the row is: a DEVIATION (``DEVIATION Dn: ...`` with §14's two columns: what
Hafnium 21bfbdc1 does, what DEN0077A as cited says), implementation-defined by nature (§0's
parenthesis), or Hafnium-only and not confirmed on the real build. A test of such a clause is
reported apart from the MUST results and never fails a build.
"""

# ruff: noqa: RUF001  (the text's own characters: minus signs, en dashes, the multiplication sign)

from __future__ import annotations

from profiles import IMPL_DEF, Clause

#: The titles of the text's sections that hold clauses, without their ``(FAMILY)`` tags. §0 is the
#: conventions; §13 (states), §14 (deviations), §15 (worked examples), §16 (differences) and §17
#: (not in this profile) hold no clause row.
SECTIONS = {
    1: "Calling convention",
    2: "Identifiers",
    3: "FFA_VERSION",
    4: "FFA_ID_GET",
    5: "FFA_FEATURES",
    6: "FFA_RXTX_MAP / FFA_RXTX_UNMAP",
    7: "FFA_PARTITION_INFO_GET — enough to discover partitions",
    8: "Partition message header",
    9: "FFA_MSG_SEND2 — DEN0077A v1.1 §15.1 (ACS-1.1)",
    10: "Notifications used by indirect messaging",
    11: "RX buffer ownership and FFA_RX_RELEASE",
    12: "FFA_MSG_WAIT and FFA_RUN",
}


CLAUSES: tuple[Clause, ...] = (
    Clause(
        "CONV-1",
        1,
        "x0 = function ID. SMC32 IDs are 0x8400_00xx, arguments and results in w1..w7; SMC64 IDs are 0xC400_00xx, arguments and results in x1..x7. *(probe: every call)*",
        "X: ffa.h `FFA_LOW_32_ID`…; TF-A ffa_svc.h `FFA_FID(SMC_32/64, …)`",
    ),
    Clause(
        "CONV-2",
        1,
        "The conduit a VM uses. Hafnium accepts both `hvc` and `smc` from a VM for every FF-A ID it handles, with the same result; the `hvc`/`smc` immediate is not examined; ID bit 16 (SMCCC SVE hint) is cleared before decoding. *(probe: FFA_ID_GET by `smc` → SUCCESS, w2 = 1, as by `hvc`)*",
        "H: handler.c `hvc_handler`, `smc_handler` (`SMCCC_SVE_HINT_MASK`)",
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: conduit",
    ),
    Clause(
        "CONV-3",
        1,
        "Success is FFA_SUCCESS_32 (0x84000061), or FFA_SUCCESS_64 (0xC4000061) for an SMC64 interface that returns 64-bit values; failure is FFA_ERROR_32 (0x84000060) with the error code in w2. *(probe: e.g. FFA_NOTIFICATION_INFO_GET_64 → x0 = 0xC4000061)*",
        "X; H: inc/hf/ffa_internal.h `ffa_error()`",
    ),
    Clause(
        "CONV-4",
        1,
        "Error codes (signed 32-bit, in w2): NOT_SUPPORTED −1, INVALID_PARAMETERS −2, NO_MEMORY −3, BUSY −4, INTERRUPTED −5, DENIED −6, RETRY −7, ABORTED −8, NO_DATA −9. In x2 the code is zero-extended: x2 = 0x00000000FFFFFFFE for −2. *(probe: x2 = 0x00000000FFFFFFFA for DENIED, 0x00000000FFFFFFF7 for NO_DATA)*",
        'X (−1…−8: ffa.h, TF-A ffa_svc.h); NO_DATA named by ACS-1.1 notification_info_get, its value −9 H only; H: ffa.h `enum ffa_error` ("must be zero-extended")',
    ),
    Clause(
        "CONV-5",
        1,
        "In every FFA_SUCCESS/FFA_ERROR result, registers of x1..x7 that the interface does not assign are 0; x8..x17 keep the caller's values (no interface in this profile returns extended registers). *(probe: x8..x17 loaded with a pattern were unchanged after every one of about 120 calls; unassigned x1..x7 were 0 in every result)*",
        "H only: src/arch/aarch64/hypervisor/cpu.c `arch_regs_set_retval`",
    ),
    Clause(
        "CONV-6",
        1,
        "An ID Hafnium does not handle, called by `hvc`: Hafnium returns with **every register unchanged** (x0 = the ID itself). The cited material has no DEN0077A text for this case; FF-A reports an interface it does not implement as NOT_SUPPORTED (FEAT-1), and that is the answer expected here. A build doing either is reported as a DEVIATION, never a MUST failure. *(probe: 0x84000066, 0xC4000086, 0x84000083, 0x840000FF with x1..x7 = 0x11…0x77 → all returned as passed)*",
        "H: handler.c `ffa_handler` default `false`, `paravirtualised_interface_handler`",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D3: Hafnium 21bfbdc1 — unhandled IDs via `hvc` return with all registers unchanged; DEN0077A as cited — NOT_SUPPORTED (expected; text for this case not available)",
    ),
    Clause(
        "CONV-7",
        1,
        "FFA_MSG_SEND2, FFA_MSG_WAIT, FFA_RX_RELEASE, FFA_RUN, FFA_ID_GET, FFA_VERSION, FFA_FEATURES, FFA_PARTITION_INFO_GET and FFA_NOTIFICATION_GET have only an SMC32 ID. An 0xC4… form of them is not an FF-A function: FFA_FEATURES answers NOT_SUPPORTED and a call has none of the interface's effects (what it returns: CONV-6, CONV-9). *(probe: FFA_FEATURES(0xC4000086) → NOT_SUPPORTED)*",
        "X: ffa.h `enum ffa_function`; TF-A ffa_svc.h; OP-TEE ffa.h",
    ),
    Clause(
        "CONV-8",
        1,
        "Upper halves x[63:32] of SMC32 arguments, and unused low bits: Hafnium ignores x1[63:32], w1[15:0] and x2[63:32] of FFA_MSG_SEND2 and x1[63:32] of FFA_VERSION, but FFA_MSG_WAIT compares the whole of x1 and x3..x7, and for a caller below v1.2 the whole of x2, with 0 (INVALID_PARAMETERS otherwise). The DEN0077A text on these bits was not available; an SMC32 interface is defined on the w registers (CONV-1). A build treating them either way is reported as a DEVIATION, never a MUST failure. *(probe: FFA_MSG_SEND2 with x1 = 0xFFFFFFFF0000FFFF → SUCCESS; with x2 = 0xFFFFFFFF00000000 to a full receiver → BUSY, as for x2 = 0; FFA_VERSION with x1 = 0xFFFFFFFF00010001 → 0x00010003; FFA_MSG_WAIT with x1 = 1<<32 → INVALID_PARAMETERS)*",
        "H: ffa.h `ffa_sender`, `ffa_msg_send2_flags`; api.c `api_ffa_msg_wait`",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D13: Hafnium 21bfbdc1 — upper halves / unused bits of SMC32 arguments treated unevenly; DEN0077A as cited — SMC32 interfaces are defined on w registers; text not available",
    ),
    Clause(
        "CONV-9",
        1,
        "An ID Hafnium does not handle, called by `smc`: forwarded to EL3 if the VM's manifest SMC whitelist allows it (the result is EL3's); otherwise refused with **x0 = −1 (0xFFFF_FFFF_FFFF_FFFF, SMCCC_ERROR_UNKNOWN)** and x1..x7 returned unchanged. Its w0 equals FFA_VERSION's NOT_SUPPORTED, but it is not an FFA_ERROR. *(probe: `smc` 0x840000FF and 0x84000066 with x1..x3 = 0x11/0x22/0x33, x4..x7 = 0 → x0 = −1, x1..x7 as passed; Hafnium logs \"SMC … attempted from VM 0x1, blocked=1\")*",
        "H: handler.c `smc_forwarder`, `smc_is_blocked`",
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: unhandled `smc`",
    ),
    Clause(
        "ID-1",
        2,
        "Function IDs: FFA_ERROR 0x84000060, FFA_SUCCESS 0x84000061 / 0xC4000061, FFA_INTERRUPT 0x84000062, FFA_VERSION 0x84000063, FFA_FEATURES 0x84000064, FFA_RX_RELEASE 0x84000065, FFA_RXTX_MAP_32 0x84000066 / FFA_RXTX_MAP_64 0xC4000066, FFA_RXTX_UNMAP 0x84000067, FFA_PARTITION_INFO_GET 0x84000068, FFA_ID_GET 0x84000069, FFA_MSG_WAIT 0x8400006B, FFA_YIELD 0x8400006C, FFA_RUN 0x8400006D, FFA_NOTIFICATION_GET 0x84000082, FFA_NOTIFICATION_INFO_GET_32 0x84000083 / _64 0xC4000083, FFA_RX_ACQUIRE 0x84000084, FFA_SPM_ID_GET 0x84000085, **FFA_MSG_SEND2 0x84000086**.",
        "X: ffa.h; TF-A ffa_svc.h `FFA_FNUM_*`; OP-TEE ffa.h (`FFA_MSG_SEND2 U(0x84000086)`)",
    ),
    Clause(
        "ID-2",
        2,
        "Partition IDs are 16 bits. Bit 15 = 0: a VM (normal world); bit 15 = 1: a secure partition (SP). *(probe: receivers 0x8001 and 0xFFFF are not looked up among VMs but forwarded to EL3, SEND-6)*",
        'S: Hf-cmt ffa.h `FFA_ID_MASK 0x8000` ("FF-A v1.2 ALP0, section 6.1")',
    ),
    Clause(
        "ID-3",
        2,
        "ID values. Hafnium: 0 = hypervisor, 0x8000 = SPMC, 0xFFFF = SPMD; VMs from 1 (primary = 1, then manifest order); SPs from 0x8001. *(probe: primary's FFA_ID_GET → 1; services3's → 4; first partition descriptor ID 2)*",
        "H: inc/vmapi/hf/vm_ids.h, src/arch/aarch64/inc/hf/arch/vmid_base.h",
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: partition ID values",
    ),
    Clause(
        "ID-4",
        2,
        "FF-A version word: bit 31 MBZ, bits 30..16 major, bits 15..0 minor; v1.1 = 0x00010001.",
        'S: Hf-cmt ffa.h `FFA_VERSION_MBZ_BIT` ("FF-A v1.2 ALP1, section 13.2.1")',
    ),
    Clause(
        "VER-1",
        3,
        "A compatible request (same major, requested minor ≤ the callee's minor) returns the callee's own version, not the requested one. Reference build: 0x00010003. *(probe: 0x00010000, 0x00010001, 0x00010002 → 0x00010003 each)*",
        "S: ACS-chk ffa_version rule 1 (v1.0 §8.1.2); H: api.c `api_ffa_version`, ffa.h `ffa_versions_are_compatible`",
    ),
    Clause(
        "VER-2",
        3,
        "A request with bit 31 set → NOT_SUPPORTED, before and after negotiation has ended. *(probe: 0x80010001 → 0xFFFFFFFF)*",
        "H only: ffa.h `ffa_version_is_valid`; ID-4",
    ),
    Clause(
        "VER-3",
        3,
        "A request the callee cannot serve. Hafnium returns NOT_SUPPORTED for a higher minor and for another major. The v1.0 rule quoted by ACS-chk (rule 3) says a callee whose version is lower than the one requested must return its highest version (here 0x00010003); TF-A's EL3 SPMC does so. A build doing either is reported as a DEVIATION, never a MUST failure. *(probe: 0x00010004, 0x00020000, 0x00000001 → 0xFFFFFFFF)*",
        "S: ACS-chk rule 3; H: api.c; TF-A behaviour from H:test/vmapi/ffa_secure_partition_el3_spmc/secure_partition.c (a v1.3 request answered 0x00010002)",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D1: Hafnium 21bfbdc1 — NOT_SUPPORTED for a version it cannot serve; DEN0077A as cited — a callee whose version is lower returns its highest version (v1.0 rule via ACS-chk)",
    ),
    Clause(
        "VER-4",
        3,
        "Negotiation ends at the partition's first FF-A call other than FFA_VERSION; until then a later FFA_VERSION replaces the earlier request, afterwards the negotiated version no longer changes. Any FF-A call ends it, including Hafnium's FFA_CONSOLE_LOG (0x8400008A / 0xC400008A), through which Hafnium's test VMs print: a harness must call FFA_VERSION before its first output through it. An ID the callee does not handle: VER-7; the version before any FFA_VERSION: VER-8. *(probe: requests 0x10000, 0x10002, 0x10001, then FFA_ID_GET: the partition is at v1.1 — later requests for other versions fail (VER-6) and FFA_PARTITION_INFO_GET keeps the v1.1+ descriptor size; one log line before FFA_VERSION locked the version: \"Cannot change FF-A version from v0.0 to v1.1\")*",
        'S: ACS-1.2 ffa_version_negotiation (v1.2 §13.2.2: "Once the caller invokes any FF-A ABI other than FFA_VERSION, the version negotiation phase is complete"); H: api.c (`ffa_version_negotiated`), handler.c `hvc_smc_handler`; 6eeec8e8',
    ),
    Clause(
        "VER-5",
        3,
        "The callee gives each partition the behaviour of the version that partition negotiated, not its own: a v1.1 partition gets the 20-byte message header (HDR-7, SEND-11), w2 MBZ in FFA_MSG_WAIT (WAIT-1) and no page-count field in FFA_FEATURES(FFA_RXTX_MAP_64) (FEAT-4). *(probe: through those clauses)*",
        "H only: api.c `api_ffa_msg_send2_copy_data`, `api_ffa_msg_wait`, `ffa_features_function`",
    ),
    Clause(
        "VER-6",
        3,
        "FFA_VERSION after negotiation has ended. Hafnium returns its own version (0x00010003) when the request equals the negotiated version and NOT_SUPPORTED for every other request, **including its own compiled version**. The DEN0077A wording for this result was not available; TF-A's EL3 SPMC is reported to return the locked version. A build doing either is reported as a DEVIATION, never a MUST failure. *(probe: after FFA_ID_GET at v1.1: 0x00010001 → 0x00010003; 0x00010000, 0x00010002, 0x00010003, 0x00010004 → 0xFFFFFFFF)*",
        'H: api.c `api_ffa_version` ("Cannot change FF-A version … after other FF-A calls have been made")',
        strength=IMPL_DEF,
        impl_defined="DEVIATION D2: Hafnium 21bfbdc1 — after negotiation: NOT_SUPPORTED for any other version, its own version for the negotiated one; DEN0077A as cited — wording not available; TF-A's EL3 SPMC returns the locked version",
    ),
    Clause(
        "VER-7",
        3,
        "What ends negotiation in Hafnium: every call its FF-A dispatcher handles except FFA_VERSION and FFA_INTERRUPT_32, whatever it returns (an FFA_ERROR included). An ID it does not handle (CONV-6, CONV-9) and a PSCI call do **not** end negotiation. Not confirmed on the real build (the unknown-ID probes ran after negotiation had ended).",
        "H only: handler.c `hvc_smc_handler` (sets `ffa_version_negotiated` only when `ffa_handler` returns true and the ID is neither FFA_VERSION_32 nor FFA_INTERRUPT_32; `psci_handler` first), `hvc_handler`, `smc_handler`",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
    Clause(
        "VER-8",
        3,
        'The version of a partition that has not called FFA_VERSION. Hafnium: a VM with an FF-A partition manifest starts at its manifest\'s ffa-version (services1/2: v1.2, services3: v1.1); the primary (no FF-A partition manifest) starts at version 0 (logged as "v0.0") until it calls FFA_VERSION. *(probe, primary only: a log line before FFA_VERSION, then FFA_VERSION(0x00010001) → "Cannot change FF-A version from v0.0 to v1.1")*',
        "H: load.c (`ffa_version` from the manifest only when `is_ffa_partition`); vm.c (`vms[]` zero-initialised)",
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: version before FFA_VERSION",
    ),
    Clause(
        "IDG-1",
        4,
        "FFA_ID_GET returns SUCCESS with w2 = the caller's 16-bit partition ID. *(probe: x0 = 0x84000061, x2 = 0x1 for the primary)*",
        "S: ACS-chk ffa_id_get (v1.0 §8.7); H: api.c `api_ffa_id_get`",
    ),
    Clause(
        "FEAT-1",
        5,
        "An implemented interface → SUCCESS with its properties in w2 (0 if none); an interface not implemented, or an invalid ID → ERROR(NOT_SUPPORTED). *(probe: 0x84000086 → SUCCESS; 0x84000066 → NOT_SUPPORTED)*",
        "S: ACS-chk ffa_features (v1.0 §8.2); H: api.c `api_ffa_features`",
    ),
    Clause(
        "FEAT-2",
        5,
        "FFA_FEATURES(FFA_MSG_SEND2_32) → SUCCESS, w2 = 0. *(probe)*",
        "H only: api.c `ffa_features_function`; tests primary_only/ffa.ffa_v_1_1_features",
    ),
    Clause(
        "FEAT-3",
        5,
        "Asked by the primary: FFA_ERROR_32, FFA_SUCCESS_32, FFA_VERSION_32, FFA_FEATURES_32, FFA_RX_RELEASE_32, FFA_RXTX_UNMAP_32, FFA_PARTITION_INFO_GET_32, FFA_ID_GET_32, FFA_RUN_32 and FFA_NOTIFICATION_GET_32 → SUCCESS, w2 = 0. *(probe)*",
        "S: FEAT-1; H: api.c `ffa_features_function`",
    ),
    Clause(
        "FEAT-4",
        5,
        "FFA_FEATURES(FFA_RXTX_MAP_64) → SUCCESS; w2 bits 1:0 = minimum buffer size and alignment (0b00 = 4 KiB, 0b01 = 64 KiB, 0b10 = 16 KiB; which one is implementation-defined, MAP-2); for a v1.1 caller w2 bits 31:2 = 0 (bits 31:16 carry a maximum page count only for v1.2+ callers); the input w2 is ignored. *(probe: x2 = 0, also with input w2 = 1)*",
        "H only: ffa.h `struct ffa_features_rxtx_map_params`; api.c; f7861301",
    ),
    Clause(
        "FEAT-5",
        5,
        "Hafnium's answers about interfaces whose availability is implementation-defined: FFA_RXTX_MAP_32 and FFA_NOTIFICATION_INFO_GET_32 → NOT_SUPPORTED (only the SMC64 forms are implemented; calling the SMC32 ones: CONV-6); FFA_NOTIFICATION_INFO_GET_64 → SUCCESS to the primary, NOT_SUPPORTED to other VMs; FFA_RX_ACQUIRE_32 → NOT_SUPPORTED to VMs (hypervisor only); **FFA_YIELD_32 → SUCCESS, w2 = 0, to the primary and to secondary VMs** (a VM may call FFA_YIELD, RUN-2); FFA_MSG_WAIT_32 → SUCCESS to the primary although the primary's FFA_MSG_WAIT returns NOT_SUPPORTED (WAIT-10). **D4**: FFA_MSG_SEND_32 (0x8400006E) and FFA_MSG_POLL_32 (0x8400006A) → NOT_SUPPORTED although Hafnium still handles both calls; DEN0077A ties the FFA_FEATURES answer to what is implemented (FEAT-1); a build answering either way is reported as a DEVIATION, never a MUST failure. *(probe: each answer above; FFA_YIELD_32 and FFA_NOTIFICATION_INFO_GET_64 asked by both the primary and services3)*",
        "H: api.c `ffa_features_function` (FFA_YIELD_32 is refused only to a caller outside the hypervisor's own world, which a VM never is), aa100c1b; handler.c `ffa_handler`",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D4 (its FFA_MSG_SEND_32 / FFA_MSG_POLL_32 item; the other answers are Hafnium's own): Hafnium 21bfbdc1 — FFA_FEATURES says NOT_SUPPORTED for FFA_MSG_SEND_32 / FFA_MSG_POLL_32, which it still handles (FFA_YIELD_32 is **not** part of this item: it answers SUCCESS, w2 = 0, to VMs); DEN0077A as cited — the answer reflects what is implemented",
    ),
    Clause(
        "FEAT-6",
        5,
        "Notification interrupt feature IDs. Hafnium (v1.2+ builds, whatever version the caller negotiated): 0x1 NPI → SUCCESS, w2 = 5; 0x2 SRI → SUCCESS, w2 = 8; 0x3 MEI → SUCCESS, w2 = 4; feature IDs with bits 30:8 set, or input w2 ≠ 0 → NOT_SUPPORTED. The interrupt IDs are implementation-defined; ACS-1.1 requires NOT_SUPPORTED for 0x1/0x2 only where notifications are not supported. **D5**: Hafnium's NS hypervisor advertises NPI and SRI but raises neither (NOTIF-5). A build doing either is reported as a DEVIATION, never a MUST failure. *(probe: 0x1 → 5, 0x2 → 8, 0x3 → 4, asked by a v1.1 primary; the MBZ checks not probed)*",
        "S: ACS-1.1 ffa_features_intr (v1.1 §9.7); H: api.c `ffa_features_feature`; inc/vmapi/hf/types.h",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D5: Hafnium 21bfbdc1 — advertises NPI and SRI, raises neither; DEN0077A as cited — the advertised interrupts signal pending notifications",
    ),
    Clause(
        "FEAT-7",
        5,
        "Feature ID 0x4 (FF-A v1.3 notification features, per Hafnium's comment): Hafnium answers by its compiled version, so a v1.1 caller gets SUCCESS with **w2 = 0x3** (bit 0: no per-vCPU notifications for VMs; bit 1: none for SPs). The v1.1 material cited defines no feature ID 4; a v1.1-only implementation would answer NOT_SUPPORTED. Either is reported. *(probe: x0 = 0x84000061, x2 = 0x3)*",
        "H: api.c `ffa_features_feature` (`FFA_FEATURE_NOTIFICATION`), ffa.h `enum ffa_feature_id`",
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: feature ID 4",
    ),
    Clause(
        "MAP-1",
        6,
        "Success → SUCCESS; the pair is registered for the caller. A second FFA_RXTX_MAP while a pair is registered → ERROR(DENIED). *(probe: x2 = 0xFFFFFFFA)*",
        "S: ACS-chk ffa_rxtx_map_and_unmap rule 3 (v1.0 §8.4); H: api.c `api_vm_configure_pages`",
    ),
    Clause(
        "MAP-2",
        6,
        "Buffer size and alignment: RX and TX are the same size, a multiple of and aligned to the larger translation granule (S). Hafnium: page count 1..RXTX_MAX_PAGE_COUNT (1 in the reference build) and 4 KiB-aligned addresses, else INVALID_PARAMETERS. Multi-page buffers are outside this profile (§17).",
        "S: ACS-chk rules 5–6; H: api.c; tests ffa_rxtx_map.fails_with_unaligned_pointer, fails_with_zero_page_count, fails_with_page_count_exceeding_max",
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: buffer size",
    ),
    Clause(
        "MAP-3",
        6,
        "Overlapping RX and TX (the same page included): Hafnium → INVALID_PARAMETERS. Not confirmed on the real build.",
        'H only: api.c ("Mailbox buffers overlap"); tests ffa_rxtx_map.fails_with_same_page, fails_with_overlapping_multi_page_buffers',
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
    Clause(
        "MAP-4",
        6,
        "The buffers must be memory the caller owns exclusively; otherwise the call fails and nothing is registered (Hafnium: INVALID_PARAMETERS). If the callee cannot allocate what the mapping needs → ERROR(NO_MEMORY).",
        "S: ACS-chk rxtx_exclusive_access (v1.0 §8.4), rule 2 (NO_MEMORY); H: api.c `api_mode_valid_owned_and_exclusive`",
    ),
    Clause(
        "MAP-5",
        6,
        "Hafnium maps a registered RX buffer **read-only** for its owner (stage 2 `UNOWNED\\|SHARED\\|R`; TX stays read/write): a store to RX is reported to the VM as a Data Abort. The DEN0077A rules cited require only exclusive ownership (MAP-4) and say nothing that makes RX read-only. A build doing either is reported as a DEVIATION, never a MUST failure. The fault is injected at the VM's own EL1 vector and the same vCPU continues: Hafnium neither aborts the vCPU (RUN-4 does not follow) nor returns to the primary because of it, so what the primary's next FFA_RUN of that vCPU returns depends only on what the guest's handler does next (a retried store faults again). *(probe: a store by services3 to its RX buffer → \"Injecting Data Abort exception into VM 0x4\"; the store never completed; the test's handler called FFA_YIELD and the primary's FFA_RUN returned x0 = 0x8400006C, x1 = 0x40000, three times)*",
        "H: api.c `api_vm_configure_pages` (mode of the RX buffer); handler.c `EC_DATA_ABORT_LOWER_EL` case, `inject_el1_data_abort_exception` (EL0 partitions only are aborted)",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D9: Hafnium 21bfbdc1 — RX buffer read-only to its owner after FFA_RXTX_MAP; DEN0077A as cited — only exclusive ownership is required",
    ),
    Clause(
        "MAP-6",
        6,
        "FFA_RXTX_UNMAP: w1[31:16] (an ID) MBZ at a virtual instance, else INVALID_PARAMETERS; no pair registered → INVALID_PARAMETERS; otherwise SUCCESS, and a pair may be mapped again. *(probe: w1 = 0x10000 → INVALID_PARAMETERS; unmap → SUCCESS; again → INVALID_PARAMETERS)*",
        "S: ACS-chk FFA_RXTX_UNMAP rule 1 (v1.0 §8.5); H: api.c `api_ffa_rxtx_unmap`; tests ffa_rxtx_unmap.*",
    ),
    Clause(
        "MAP-7",
        6,
        "Hafnium's further conditions: TX valid, owned, exclusive, readable, writable and not device memory; RX valid, owned, exclusive, readable; else INVALID_PARAMETERS. Not confirmed on the real build.",
        "H only: api.c `api_vm_configure_pages`; test ffa_rxtx_map.fails_with_device_memory",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
    Clause(
        "PIG-1",
        7,
        "Nil UUID at the NS virtual instance: information on the partitions of both security states (VMs only when there is no SPMC); a non-Nil UUID: the matching subset; an unrecognised UUID → INVALID_PARAMETERS. *(probe: Nil UUID → 3 descriptors, one per secondary VM)*",
        "S: ACS-chk ffa_partition_info_get rules 1, 2, 5 (v1.0 §8.6); H: api.c `api_ffa_partition_info_get`; tests ffa_partition_info_get.{three_secondary_vms, invalid_vm_uuid}",
    ),
    Clause(
        "PIG-2",
        7,
        "w5 bit 0 = 1 (count only): SUCCESS with a count in w2; the RX buffer is neither written nor needed (works while it is full). w5 bit 0 = 0: descriptors written to the caller's RX buffer, count in w2, descriptor size in w3 (with no RX buffer mapped: PIG-8). w5 bits 31:1 ≠ 0 → INVALID_PARAMETERS. *(probe: w5 = 1 → SUCCESS, x2 = 5, also with RX full; w5 = 0 → x2 = 3, x3 = 0x30; w5 = 2 → INVALID_PARAMETERS)*",
        "S: ACS-1.1 ffa_partition_info_get (v1.1 §13.8, Tables 13.32, 13.34); H: api.c (the MBZ check: H only)",
    ),
    Clause(
        "PIG-3",
        7,
        "Descriptor size. Hafnium returns **48-byte** descriptors (w3 = 0x30, the v1.3 layout) to a v1.1 caller, since 4e80e890 (2026-02-27; 24 before), and 8-byte v1.0 descriptors to a v1.0 caller. The v1.1 descriptor (Table 13.34) is 24 bytes. A build returning either (with w3 saying which) is reported as a DEVIATION, never a MUST failure; the caller steps through descriptors by w3 (PIG-6). *(probe: v1.1 caller w3 = 0x30; v1.0 caller w3 = 0x8)*",
        "S: Hf-cmt (Table 13.34); H: api.c `send_versioned_partition_info_descriptors`, static_asserts; 4e80e890",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D8: Hafnium 21bfbdc1 — 48-byte descriptors to v1.1 callers; DEN0077A as cited — 24-byte v1.1 descriptors",
    ),
    Clause(
        "PIG-4",
        7,
        "Hafnium sets the indirect-messaging property (bit 2) of a partition only if that partition's version is ≥ v1.1 and its manifest's messaging method for that UUID includes indirect messaging, and the notifications property (bit 3) only if notifications are enabled for it. Not confirmed on the real build.",
        "H only: api.c `api_ffa_partitions_info_get_properties`",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
    Clause(
        "PIG-5",
        7,
        "Writing descriptors gives the caller ownership of its RX buffer (RX full): until FFA_RX_RELEASE another descriptor-mode call → BUSY, and an FFA_MSG_SEND2 to the caller gets BUSY (SEND-9). FFA_RX_RELEASE then → SUCCESS. *(probe: second call → x2 = 0xFFFFFFFC; release → SUCCESS; the FFA_MSG_SEND2 part not probed)*",
        "S: ACS-chk rule 6 (BUSY if RX not free); H: api.c (`vm_is_mailbox_busy`, `MAILBOX_STATE_FULL`)",
    ),
    Clause(
        "PIG-6",
        7,
        "Each descriptor, at stride w3, begins with the v1.1 layout: u16 partition ID @0, u16 execution-context count @2, u32 properties @4, 16-byte UUID @8. Properties: bit 0 receives direct requests, bit 1 sends direct requests, **bit 2 indirect messaging**, bit 3 notifications, bit 8 AArch64; bits 31:11 = 0 for a v1.1 caller. *(probe: first descriptor ID 0x0002, 8 contexts, properties 0x70D)*",
        'S: Hf-cmt (v1.1 Table 13.34; ffa.h `FFA_PARTITION_v1_1_RES_MASK`: "Bits[31:11] … must be zero for FF-A v1.1"); H: ffa.h `FFA_PARTITION_*`',
    ),
    Clause(
        "PIG-7",
        7,
        "The count-only call (w5 = 1) **may return a different count than the descriptor call for the same Nil UUID; a suite must not assume they match.** Observed: count only → **5**, descriptors → **3** (v1.1 caller). Why: Hafnium's count-only path counts one entry per partition UUID whatever the caller's version, while for a caller below v1.2 the descriptor path returns one descriptor per partition (\"Multiple UUIDs for a partition was only introduced in FF-A v1.2\"); services2 and services3 each declare two UUIDs (1 + 2 + 2 = 5 UUIDs, 3 partitions); the primary has no FF-A partition manifest and is counted by neither. A v1.2+ caller gets 5 from both (Hafnium test three_secondary_vms). *(probe)*",
        'H: api.c `api_ffa_fill_partitions_info_array` (count path `continue`s before the per-version break); test no_services.c ffa_partition_info_get.three_secondary_vms ("3 FF-A partitions, two with 2 UUIDs")',
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: count-only count",
    ),
    Clause(
        "PIG-8",
        7,
        "Descriptor mode (w5 bit 0 = 0) while the caller has no RX buffer mapped: Hafnium → ERROR(BUSY) (an unmapped RX buffer counts as not free; the RX-size cap on the entry count is skipped so that BUSY, not NO_MEMORY, is reported). Count-only mode is unaffected (PIG-2). Not confirmed on the real build.",
        "H only: api.c `api_ffa_partition_info_get` (comment on `buf_size` 0), `send_versioned_partition_info_descriptors`; vm.c `vm_is_mailbox_busy` (`recv == NULL`)",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
    Clause(
        "HDR-1",
        8,
        "Message header, offset 0, size 4: flags — reserved, zero for a sender (a callee's handling of a non-zero value: SEND-15). *(probe: delivered at @0)*",
        'S: Hf-cmt ffa.h `struct ffa_partition_rxtx_header` (fc0295ee: "table 6.2 from FF-A v1.1 EAC0"; `/* MBZ */`, at 21bfbdc1 `Reserved (SBZ)`); X: ACS val_ffa_helpers.h',
    ),
    Clause(
        "HDR-2", 8, "Message header, offset 4, size 4: reserved, zero for a sender (SEND-15). *(probe: delivered at @4)*", "same"
    ),
    Clause(
        "HDR-3",
        8,
        "Message header, offset 8, size 4: offset of the payload from the start of the buffer. *(probe: SEND-11)*",
        "same",
    ),
    Clause(
        "HDR-4",
        8,
        "Message header, offset 12, size 4: bits 31:16 = sender ID, bits 15:0 = receiver ID (u16 receiver @12, u16 sender @14). *(probe: the primary's message to 4 arrives as 0x00010004; services3's to 1 as 0x00040001)*",
        'same; ACS val_ffa_helpers.h "Sender(Bits[31:16]) and Receiver(Bits[15:0])"',
    ),
    Clause("HDR-5", 8, "Message header, offset 16, size 4: payload size in bytes. *(probe: SEND-13)*", "same"),
    Clause(
        "HDR-6",
        8,
        "Message header, offset (20): The v1.2 fields (reserved @20, UUID @24) are **not part of a v1.1 header**; a v1.1 sender's payload may start at 20. *(probe: offset 20 accepted)*",
        'S: Hf-cmt ffa.h ("Added in v1.2"); bf580c22',
    ),
    Clause(
        "HDR-7",
        8,
        "Message header: v1.1 header size = **20 bytes**. *(probe: a v1.1 sender's offset 19 → INVALID_PARAMETERS, 20 → accepted)*",
        "H: ffa.h `FFA_RXTX_HEADER_SIZE_V1_1`; ACS v1.1 build `sizeof(ffa_partition_rxtx_header_t)` = 20",
    ),
    Clause(
        "SEND-1",
        9,
        "A partition at a virtual instance with w1[31:16] ≠ 0 → INVALID_PARAMETERS (w1[15:0] and upper halves: CONV-8). *(probe: x1 = 0x10000 → x2 = 0xFFFFFFFE)*",
        'H only: api.c `api_ffa_msg_send2` ("Only Hypervisor can set `sender_vm_id`")',
    ),
    Clause(
        "SEND-2",
        9,
        "The sender has no TX buffer mapped → **DENIED**. *(probe: after FFA_RXTX_UNMAP → x2 = 0xFFFFFFFA)*",
        "H only: api.c; test indirect_messaging.unmapped_tx",
    ),
    Clause(
        "SEND-3",
        9,
        "Header sender ID ≠ the caller's ID → INVALID_PARAMETERS. *(probe: sender 2 from VM 1)*",
        "H only: api.c; tests indirect_messaging.corrupted_sender, non_existing_sender",
    ),
    Clause(
        "SEND-4",
        9,
        "Header receiver ID = sender ID → INVALID_PARAMETERS. *(probe)*",
        'H: api.c; X: ACS ffa_msg_send2 client/sp_server ("same sender and receiver")',
    ),
    Clause(
        "SEND-5",
        9,
        "A VM sender with w2 ≠ 0 → INVALID_PARAMETERS (bit 0 and bits 31:2 per ACS-1.1; bit 1, the delay-SRI flag, is only for senders at the secure virtual instance). *(probe: w2 = 1 and w2 = 2 → INVALID_PARAMETERS)*",
        'S: ACS-1.1 ffa_msg_send2 step 3 ("Set bit[0] and Bit[31:2] in flags and check for Invalid parameters"); H: api.c ("`flags` can be set only at secure virtual FF-A instances")',
    ),
    Clause(
        "SEND-6",
        9,
        "A receiver ID with bit 15 set (an SP, or no partition at all): the NS hypervisor forwards the call to EL3 by `smc` with w1 = sender<<16 and returns what comes back — an SPMC's answer (outside this profile), or, with no EL3 firmware, whatever the platform returns: under QEMU **x0 = −1 (0xFFFF_FFFF_FFFF_FFFF), x1 = 0x10000** (the forwarded w1), x2..x7 = 0, which is not an FF-A encoding. *(probe: receivers 0x8001 and 0xFFFF)*",
        "H: hyp/indirect_messaging.c `ffa_indirect_msg_send2_forward`, src/arch/aarch64/hypervisor/other_world.c `arch_other_world_call`",
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: SP-range receivers",
    ),
    Clause(
        "SEND-7",
        9,
        "No partition with the header's receiver ID in the callee's own world → INVALID_PARAMETERS. *(probe: receivers 0x0010 and 0x0000, the hypervisor's ID)*",
        "S: ACS-1.1 ffa_msg_send2 (invalid receiver); H: api.c",
    ),
    Clause(
        "SEND-8",
        9,
        "Which sender/receiver pairs may use indirect messaging; a refused pair gets DENIED (S). Hafnium's NS hypervisor allows every VM pair (\"Hypervisor is only for testing purposes, always allow indirect messages from VM\"), whatever the partitions' versions or manifests say. *(probe: 1 → 4 and 4 → 1 delivered)*",
        'S: ACS-1.1 step 6 ("Receiver endpoint does not support receipt … Denied"); H: hyp/indirect_messaging.c `ffa_indirect_msg_is_supported`',
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: pair policy",
    ),
    Clause(
        "SEND-9",
        9,
        "The receiver has no RX buffer mapped, or its RX buffer is not free (a message not yet released, or partition-information descriptors not yet released, PIG-5) → **BUSY**. *(probe: second send before the receiver released → x2 = 0xFFFFFFFC; receiver not yet mapped → BUSY, from a v1.0 sender)*",
        "S: ACS-1.1 step 4; H: vm.c `vm_is_mailbox_busy`; tests indirect_messaging.unmapped_rx, unread_message",
    ),
    Clause(
        "SEND-10",
        9,
        "A sender that negotiated v1.0 never has a message delivered: an otherwise valid FFA_MSG_SEND2 from it → NOT_SUPPORTED (which error it gets when other checks fail too: SEND-22). *(probe: v1.0 primary to a mapped, free receiver → x2 = 0xFFFFFFFF)*",
        "H only: api.c `api_ffa_msg_send2_copy_data`; test indirect_messaging_v1_0.v1_0_not_supported",
    ),
    Clause(
        "SEND-11",
        9,
        "Header offset < 20 (a v1.1 sender; 40 for a v1.2+ sender) → INVALID_PARAMETERS. An offset that leaves a gap after the header is accepted. *(probe: offsets 16 and 19 → INVALID_PARAMETERS; 24 → SUCCESS)*",
        "H only: api.c (a78337f6); tests indirect_messaging_v1_1.payload_overlap, payload_gap",
    ),
    Clause(
        "SEND-12",
        9,
        "offset + size overflows 32 bits → INVALID_PARAMETERS. *(probe: offset 20, size 0xFFFFFFF0)*",
        "H only: api.c `add_overflow`; test indirect_messaging_v1_2.size_plus_offset_overflow",
    ),
    Clause(
        "SEND-13",
        9,
        'offset + size > the maximum message size (SEND-14) → INVALID_PARAMETERS. *(probe: offset 20, size 4077 → INVALID_PARAMETERS, "Message is too big (4097 > 4096)")*',
        'S: ACS-chk ffa_msg_send rule 2 (v1.0 §10.1: "A message larger than the mailbox size should not be able to be sent"); H: api.c',
    ),
    Clause(
        "SEND-14",
        9,
        "The maximum message size. Hafnium uses a build constant, 4096 × RXTX_MAX_PAGE_COUNT (4096 here), whatever the sender's or receiver's mapped buffer size; a v1.1 sender can send at most 4076 payload bytes. The DEN0077A text cited ties the limit to the mailbox (buffer) size. With one-page buffers the two agree; a build using either is reported as a DEVIATION, never a MUST failure. *(probe: offset 24, size 4072 → SUCCESS)*",
        "H: inc/vmapi/hf/types.h `HF_MAILBOX_SIZE`, api.c `FFA_MSG_PAYLOAD_MAX`; S: ACS-chk ffa_msg_send rule 2",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D10: Hafnium 21bfbdc1 — message limit from a build constant; DEN0077A as cited — limit from the mailbox size",
    ),
    Clause(
        "SEND-15",
        9,
        "Non-zero header flags (@0) or reserved (@4): Hafnium neither checks nor clears them — the message is delivered with them. DEN0077A as cited makes them MBZ/SBZ (HDR-1, HDR-2), and ACS-1.1 describes an INVALID_PARAMETERS check on non-zero flags. A build rejecting with INVALID_PARAMETERS or delivering is reported as a DEVIATION, never a MUST failure. *(probe: flags 0xA5A5A5A5, reserved 0x5A5A5A5A → SUCCESS; the receiver reads both unchanged)*",
        "H: api.c (no check); S: Hf-cmt fc0295ee `/* MBZ */`; ACS-1.1 step 3",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D7: Hafnium 21bfbdc1 — header flags/reserved neither checked nor cleared (also SP-sender w2 bits other than bit 1, outside this profile); DEN0077A as cited — MBZ/SBZ; ACS-1.1 describes an INVALID_PARAMETERS check",
    ),
    Clause(
        "SEND-16",
        9,
        "On success bytes [0, offset + size) of the sender's TX buffer — header included, unchanged — are copied to the receiver's RX buffer, the receiver's RX buffer becomes full, and the call returns SUCCESS with x1..x7 = 0. *(probe)*",
        'S: ACS-1.1 steps 1–2; ACS-chk rule 3 ("only the amount of data as specified by the length is sent"); H: api.c `api_ffa_msg_send2_copy_data`',
    ),
    Clause(
        "SEND-17",
        9,
        "On success the receiver's RX-buffer-full framework notification becomes pending (NOTIF-1). (Whether an interrupt tells the receiver's scheduler: NOTIF-5.) *(probe: the receiver's FFA_NOTIFICATION_GET → w7 = 1; FFA_NOTIFICATION_INFO_GET_64 lists the receiver)*",
        'S: ACS-1.1 row "FFA_MSG_SEND2: RX buffer full notification" (§15.1); H: api.c (3bb82594)',
    ),
    Clause(
        "SEND-18",
        9,
        "The sender keeps running: FFA_MSG_SEND2 switches neither to the receiver nor to the primary. *(probe: every send returned directly to its caller)*",
        "H only: api.c (no `next` argument)",
    ),
    Clause(
        "SEND-19",
        9,
        "Because the copy is verbatim (SEND-16), a v1.1 receiver gets a v1.2+ sender's 40-byte header unchanged and vice versa: a receiver locates the payload by `offset`, never by its own header size. (The mixed-version case itself was not probed.)",
        "H: api.c; test/vmapi/common/ffa.c `receive_indirect_message`; tests indirect_messaging echo_v1_1_to_v1_2, echo_v1_2_to_v1_1",
    ),
    Clause(
        "SEND-20",
        9,
        "The RX buffer beyond the message. Hafnium zeroes [offset + size, end of buffer) on every delivery, since cded984f, citing FF-A v1.3 §4.10; the v1.1 material cited requires only that the stated length be sent. A receiver must not rely on either the zeros or stale bytes. *(probe: after a 4096-byte message, then a 28-byte one, no non-zero byte after byte 28)*",
        'H: api.c `api_ffa_msg_send2_copy_data` ("Zero the unpopulated tail of the RX buffer (FF-A v1.3 section 4.10)")',
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: RX tail",
    ),
    Clause(
        "SEND-21",
        9,
        "An empty message at the very end of the buffer (offset 4096, size 0) is accepted by Hafnium (offset ≥ header size, offset + size ≤ 4096). The DEN0077A text for this edge was not available. *(probe: → SUCCESS)*",
        "H: api.c",
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: empty message at the buffer end",
    ),
    Clause(
        "SEND-22",
        9,
        "Errors for a v1.0 sender. Hafnium checks the sender's version only after SEND-1..9 (header, receiver and RX-buffer checks) and never checks a v1.0 sender's offset, so a v1.0 sender can get BUSY or INVALID_PARAMETERS instead of NOT_SUPPORTED. The reading of DEN0077A taken here is that a v1.1 interface called by a v1.0 partition is NOT_SUPPORTED. A build doing either is reported as a DEVIATION, never a MUST failure. *(probe, v1.0 primary: receiver not mapped → BUSY; header sender 2 → INVALID_PARAMETERS; offset 16 to an unmapped receiver → BUSY)*",
        "H: api.c `api_ffa_msg_send2`, `api_ffa_msg_send2_copy_data` (the version switch follows the receiver checks)",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D11: Hafnium 21bfbdc1 — a v1.0 sender can get BUSY/INVALID_PARAMETERS before NOT_SUPPORTED; DEN0077A as cited — NOT_SUPPORTED for a v1.1 interface",
    ),
    Clause(
        "NOTIF-1",
        10,
        "The RX-buffer-full notification is a *framework* notification: it needs no FFA_NOTIFICATION_BIND. From a VM sender it is reported by FFA_NOTIFICATION_GET as **bit 0 of w7** (hypervisor framework bitmap); from an SP sender as bit 0 of w6 (outside this profile). (Hafnium keeps both in one 64-bit framework bitmap: bit 0 set by the SPMC, bit 32 for a VM sender.) *(probe: no bind was made; w7 = 0x1 for messages from VM 1 and from VM 4)*",
        'X: ACS ffa_msg_send2_server.c (`payload.arg7 == 0x1` for a VM sender); H: ffa.h `FFA_NOTIFICATION_HYP_BUFFER_FULL_MASK`; docs/secure-partition-manager/secure-partition-manager.rst ("Binding of these is not necessary")',
    ),
    Clause(
        "NOTIF-2",
        10,
        "FFA_NOTIFICATION_GET (0x84000082): w1[15:0] = receiver ID (the caller itself at a virtual instance; another ID or an out-of-range vCPU: NOTIF-6), w1[31:16] = vCPU; w2 flags: bit 0 SP, bit 1 VM, bit 2 SPM framework, bit 3 hypervisor framework, bits 31:4 MBZ (else INVALID_PARAMETERS). Returns SUCCESS with w2/w3 = SP bitmap, w4/w5 = VM bitmap, w6 = SPM framework, w7 = hypervisor framework; the notifications returned are cleared. *(probe: flags 0xC after a message → x2..x6 = 0, x7 = 0x1; again → x7 = 0; flags 0x10 → INVALID_PARAMETERS)*",
        "S: ACS-1.1 notification_get (v1.1 §17.6); H: api.c `api_ffa_notification_get`",
    ),
    Clause(
        "NOTIF-3",
        10,
        "Flag bit 2 or bit 3 alone: Hafnium's NS hypervisor returns its merged framework bitmap (its own bits plus those the SPMC reports) for either bit, always split the same way: low 32 bits in w6, high 32 bits (a VM sender's RX-full bit, NOTIF-1) in w7; so with bit 2 alone a VM sender's RX-full notification is still reported in w7 bit 0, and cleared. Not confirmed on the real build (the probes set both bits).",
        "H only: hyp/notifications.c `ffa_notifications_get_framework_notifications`; api.c `api_ffa_notification_get_success_return`",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
    Clause(
        "NOTIF-4",
        10,
        "If FFA_FEATURES(FFA_NOTIFICATION_INFO_GET_64) answers SUCCESS to the primary: the primary's FFA_NOTIFICATION_INFO_GET_64 (0xC4000083) returns FFA_SUCCESS_64 with w2 bit 0 = more pending, bits 11:7 = number of ID lists, two bits per list from bit 12 = the number of vCPU IDs after the partition ID in that list, x3..x7 = the 16-bit IDs packed; a VM with a pending RX-full notification appears as a list (which VMs, in what order: NOTIF-7); nothing pending → ERROR(NO_DATA). *(probe: after a send to VM 4 → x0 = 0xC4000061, x2 = 0x80, x3 = 0x4; again → x2 = 0xFFFFFFF7)*",
        'S: ACS-1.1 notification_info_get (v1.1 §17.7, NO_DATA case); H: api.c `api_ffa_notification_info_get` ("section 17.7.1 of the FF-A v1.1 Beta0"); ffa.h `FFA_NOTIFICATIONS_*`',
    ),
    Clause(
        "NOTIF-5",
        10,
        'Signalling a pending notification by interrupt. The Hafnium NS hypervisor raises neither the Schedule Receiver Interrupt to the primary nor the Notification Pending Interrupt to a VM ("A hypervisor should send the SRI to the Primary Endpoint. Not implemented"), although FFA_FEATURES advertises both (FEAT-6); the primary learns of messages with NOTIF-4 or by running the receiver. DEN0077A describes signalling pending notifications by these interrupts (§9.5, section number per the sources). A build doing either is reported as a DEVIATION, never a MUST failure. Interrupt delivery itself is outside this profile (§17). Not observed directly.',
        "H: hyp/notifications.c `ffa_notifications_sri_trigger_not_delayed` (empty), hyp/interrupts.c `ffa_interrupts_inject_notification_pending_interrupt`",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D5: Hafnium 21bfbdc1 — advertises NPI and SRI, raises neither; DEN0077A as cited — the advertised interrupts signal pending notifications",
    ),
    Clause(
        "NOTIF-6",
        10,
        "FFA_NOTIFICATION_GET with w1[15:0] ≠ the caller's own ID, or w1[31:16] ≥ the receiver's vCPU count: Hafnium → ERROR(INVALID_PARAMETERS) (after the flags check of NOTIF-2). Not confirmed on the real build.",
        "H only: hyp/notifications.c `ffa_notifications_is_get_valid`; api.c `api_ffa_notification_get`",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
    Clause(
        "NOTIF-7",
        10,
        "Which VMs FFA_NOTIFICATION_INFO_GET_64 lists and in what order. Hafnium: lists forwarded from the SPMC first (none without one), then the VMs in ascending index order (VM 1, the primary itself, included: its own pending RX-full notification is listed as ID 1), each VM with a pending notification once. Not confirmed on the real build (only VM 4 was pending in the probes).",
        "H only: api.c `api_ffa_notification_info_get` (loop over `vm_find_index(0 … vm_get_count() − 1)`); vm.c `vm_notifications_info_get`",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
    Clause(
        "REL-1",
        11,
        "FFA_RX_RELEASE (0x84000065) gives ownership of the caller's RX buffer back to the producer; SUCCESS. *(probe)*",
        'S: ACS-chk "FFA_RX_RELEASE rules" (v1.0 §8.3)',
    ),
    Clause(
        "REL-2",
        11,
        "The caller does not own its RX buffer (nothing received, already released, or no RX mapped) → DENIED; releasing is not idempotent. *(probe: x2 = 0xFFFFFFFA in all three cases)*",
        "S: ACS-chk ffa_rx_release; H: api.c `api_release_mailbox`; test indirect_messaging.clear_empty",
    ),
    Clause(
        "REL-3",
        11,
        "At a virtual instance w1[15:0] (receiver ID) MBZ, else INVALID_PARAMETERS. *(probe: services3 with w1 = 0x4 → INVALID_PARAMETERS)*",
        "H only: api.c `api_ffa_rx_release`",
    ),
    Clause(
        "REL-4",
        11,
        'Hafnium: after a message arrives, FFA_RX_RELEASE → DENIED until the receiver has retrieved the RX-full notification with FFA_NOTIFICATION_GET; retrieval makes the receiver the owner (6c1e05c1: "By retrieving an RX buffer full notification … the VM is now the RX buffer owner, can read it and is allowed to release it"). DEN0077A as cited makes release depend only on owning the buffer (REL-1, REL-2); whether v1.1 requires the retrieval first was not verified. A build doing either is reported as a DEVIATION, never a MUST failure. *(probe: services3 and the primary → DENIED before FFA_NOTIFICATION_GET, SUCCESS after)*',
        "H: api.c `api_release_mailbox` (`vm_are_fwk_notifications_pending`, e8c8c2b5); 6c1e05c1",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D6: Hafnium 21bfbdc1 — RX release refused until the RX-full notification is retrieved; FFA_MSG_WAIT's implied release fails silently then; DEN0077A as cited — release depends on ownership; FFA_MSG_WAIT relinquishes the buffer",
    ),
    Clause(
        "REL-5",
        11,
        "After a successful release the next FFA_MSG_SEND2 to the partition may succeed (SEND-9). *(probe)*",
        "H: tests indirect_messaging.echo*, relay; X: ACS ffa_msg_send2_server.c (`val_rx_release()` then wait)",
    ),
    Clause(
        "WAIT-1",
        12,
        'FFA_MSG_WAIT (0x8400006B): w1 and w3..w7 MBZ; for a v1.1 caller w2 MBZ too (v1.2 gives w2 bit 0 "retain RX ownership"); else INVALID_PARAMETERS. (Hafnium compares the whole of x1, x2 and x3..x7: CONV-8.) *(probe: services3 w2 = 1 → INVALID_PARAMETERS; x3 = 1 → INVALID_PARAMETERS)*',
        "S: ACS-1.2 ffa_msg_wait_rx_buff_rel (v1.2 §14.1, the flag); H: api.c `api_ffa_msg_wait`; test ffa.ffa_msg_wait_fail",
    ),
    Clause(
        "WAIT-2",
        12,
        "A successful FFA_MSG_WAIT by a v1.1 partition relinquishes its RX buffer (when the partition owns it). *(probe: services3 read a message after FFA_NOTIFICATION_GET and called FFA_MSG_WAIT without FFA_RX_RELEASE: its next FFA_RX_RELEASE → DENIED and the primary's next FFA_MSG_SEND2 → SUCCESS)*",
        'S: Hf-cmt be1a0b7a ("According to FF-A spec (since FF-A v1.0), an SP call to FFA_MSG_WAIT should release the SP\'s RX buffer"); H: api.c `api_ffa_msg_wait_rx_release`',
    ),
    Clause(
        "WAIT-3",
        12,
        "A secondary VM calling FFA_MSG_WAIT while its RX buffer holds a message whose RX-full notification is still pending → the call returns at once (no switch to the primary) with w0 = FFA_RUN_32 (0x8400006D); w1: WAIT-7. *(probe)*",
        "H only: hyp/indirect_messaging.c `ffa_indirect_msg_recv`; api.c `ffa_msg_recv_return`",
    ),
    Clause(
        "WAIT-5",
        12,
        "How the buffer kept by WAIT-3 is released. When FFA_MSG_WAIT returns at once for a message whose RX-full notification is still pending (WAIT-3), the buffer stays full with that unread message, so no sender can overwrite it before it is read; the implied release of WAIT-2 does not apply to that call. Hafnium: the release fails silently and the buffer is released only by FFA_RX_RELEASE after FFA_NOTIFICATION_GET (REL-4) or by a later FFA_MSG_WAIT once the notification was retrieved (WAIT-2, WAIT-8). DEN0077A as cited (WAIT-2) ties the release to ownership and to FFA_MSG_WAIT, not to the notification; a build that releases the buffer at the partition's next FFA_MSG_WAIT after it retrieved the message, or accepts FFA_RX_RELEASE before FFA_NOTIFICATION_GET, is reported as a DEVIATION, never a MUST failure. *(probe: after such a wait, FFA_NOTIFICATION_GET then FFA_RX_RELEASE → SUCCESS, so the buffer had been kept)*",
        "H: api.c `api_ffa_msg_wait_rx_release`; tests rx_ownership.ffa_msg_wait_buffer_full, ffa_msg_wait_with_pending_message",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D6: Hafnium 21bfbdc1 — RX release refused until the RX-full notification is retrieved; FFA_MSG_WAIT's implied release fails silently then; DEN0077A as cited — release depends on ownership; FFA_MSG_WAIT relinquishes the buffer",
    ),
    Clause(
        "WAIT-6",
        12,
        "A secondary VM calling FFA_MSG_WAIT with an empty RX buffer waits: the primary's FFA_RUN returns w0 = FFA_MSG_WAIT_32 (RUN-2); when the primary next runs that vCPU, its FFA_MSG_WAIT returns w0 = FFA_RUN_32; w1: WAIT-7. *(probe: the primary's FFA_RUN → x0 = 0x8400006B, x1 = 0x40000; later services3 resumed with x0 = 0x8400006D)*",
        "H only: api.c `api_ffa_msg_wait`, `api_vcpu_prepare_run` (`ffa_run_abi`)",
    ),
    Clause(
        "WAIT-7",
        12,
        "w1 of the FFA_RUN_32 a waiting partition gets. Hafnium: the partition's own ID when FFA_MSG_WAIT returns at once (WAIT-3, WAIT-8), **0** when it resumes after waiting (WAIT-6). Hafnium's own comment says \"FFA_RUN should return vCPU and VM ID in arg1\". A build giving ID<<16 \\| vCPU, or Hafnium's values, is reported as a DEVIATION, never a MUST failure; a partition must not rely on w1 here. *(probe: x1 = 0x4 on immediate return; x1 = 0x0 on resumption)*",
        "H: api.c `ffa_msg_recv_return` (TODO comment), `api_vcpu_prepare_run`",
        strength=IMPL_DEF,
        impl_defined="DEVIATION D14: Hafnium 21bfbdc1 — FFA_RUN_32 returned to a waiting partition carries its own ID or 0 in w1; DEN0077A as cited — VM ID and vCPU in w1 (per Hafnium's own comment)",
    ),
    Clause(
        "WAIT-8",
        12,
        "FFA_MSG_WAIT on a full RX buffer whose RX-full notification was already retrieved (the partition read the message and did not release it): Hafnium still returns at once with FFA_RUN_32 (w1 = own ID) for that **old** message, and then releases the buffer (the release follows the preparation of the return value). FFA_RUN_32 from FFA_MSG_WAIT is therefore no proof of a new message; a build that instead releases and waits is reported, never failed. *(probe: no new message — FFA_NOTIFICATION_GET → x7 = 0, RX unchanged; FFA_RX_RELEASE → DENIED; the primary's next FFA_MSG_SEND2 → SUCCESS)*",
        "H: api.c `api_ffa_msg_wait` (`ffa_cpu_cycles_msg_wait_prepare` before `api_ffa_msg_wait_rx_release`)",
        strength=IMPL_DEF,
        impl_defined="implementation-defined by nature: re-wait on a read message",
    ),
    Clause(
        "WAIT-9",
        12,
        "A pending enabled virtual interrupt when FFA_MSG_WAIT would wait: Hafnium → ERROR(INTERRUPTED). Not confirmed on the real build.",
        "H only: hyp/indirect_messaging.c `ffa_indirect_msg_recv`",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
        untestable=(
            "a pending enabled virtual interrupt of a secondary needs calls outside this profile "
            "(Hafnium's own interrupt enable, a timer or an SGI source)"
        ),
    ),
    Clause(
        "WAIT-10",
        12,
        "The primary calling FFA_MSG_WAIT → NOT_SUPPORTED. *(probe: x2 = 0xFFFFFFFF)*",
        "H only: hyp/indirect_messaging.c `ffa_indirect_msg_recv`",
    ),
    Clause(
        "RUN-1",
        12,
        "FFA_RUN (0x8400006D), w1 = target ID<<16 \\| vCPU index, may be called only by the primary scheduler (another caller → DENIED); target = the primary, an unknown ID, or a vCPU index out of range → INVALID_PARAMETERS; a vCPU running elsewhere → BUSY (a vCPU never run, or turned off: RUN-5). *(probe: FFA_RUN(0x10000) and FFA_RUN(0x200000) → INVALID_PARAMETERS; the other cases not probed)*",
        "S: ACS-chk ffa_run (v1.0 §9.3: INVALID_PARAMETERS, NOT_SUPPORTED, DENIED, BUSY, ABORTED); H: hyp/cpu_cycles.c `ffa_cpu_cycles_run_checks`, api.c `api_ffa_run`",
    ),
    Clause(
        "RUN-2",
        12,
        "When the target stops, the primary's FFA_RUN returns: w0 = FFA_YIELD_32 (0x8400006C) if it called FFA_YIELD, w0 = FFA_MSG_WAIT_32 (0x8400006B) if it waits (WAIT-6), in both cases with **w1 = target ID<<16 \\| vCPU**. When run again, the yielding partition's FFA_YIELD returns SUCCESS. *(probe: x0 = 0x8400006C, x1 = 0x40000; x0 = 0x8400006B, x1 = 0x40000; the yielder resumed with x0 = 0x84000061)*",
        "H only: api.c (`api_yield`, `api_vcpu_prepare_run`); tests indirect_messaging.*",
    ),
    Clause(
        "RUN-3",
        12,
        "Other stops: preemption by an interrupt → FFA_INTERRUPT_32 with w1 = ID<<16 \\| vCPU, w2 = 0; the target executed WFI → Hafnium's own HF_FFA_RUN_WAIT_FOR_INTERRUPT (0xFF06, w1 = ID<<16 \\| vCPU, w2 = timer nanoseconds). Not confirmed on the real build.",
        "H only: api.c (`api_preempt`, `api_wait_for_interrupt`, `api_vcpu_prepare_run`); ffa.h `ffa_vm_vcpu`; inc/vmapi/hf/abi.h",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
    Clause(
        "RUN-4",
        12,
        "FFA_RUN of an aborted vCPU → ERROR(ABORTED). (Not probed.)",
        "S: ACS-chk ffa_run rule 5; H: api.c `api_vcpu_prepare_run`",
    ),
    Clause(
        "RUN-5",
        12,
        "FFA_RUN of a vCPU that is not running. Hafnium: every vCPU starts in state CREATED and the first FFA_RUN of it starts it (a secondary's vCPU 0 at the image entry point; Hafnium sets no entry point for a higher vCPU index, which the VM is expected to power on with PSCI CPU_ON); a vCPU turned off (PSCI CPU_OFF, state OFF) → ERROR(INVALID_PARAMETERS). Not confirmed on the real build.",
        "H only: vcpu.c `vcpu_init`; load.c (`vcpu_secondary_reset_and_start` for vCPU 0 only); api.c `api_ffa_run` (initial `ret`), `api_vcpu_prepare_run` (`VCPU_STATE_CREATED`, `VCPU_STATE_OFF` cases)",
        strength=IMPL_DEF,
        impl_defined="Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed",
    ),
)

#: The clauses every other test relies on for its calls to mean what they say, by layer: x0 is
#: the function ID and results come back in x0..x7 (layer 0: CONV-1); how a result reads and how a
#: call is named (layer 1: FFA_SUCCESS / FFA_ERROR, the error codes, the function IDs, the version
#: word); then the two calls every test makes first -- negotiating v1.1 and learning its own ID
#: (layer 2: VER-1, VER-4, IDG-1). When one of them fails in a test of its own (its first-named
#: clause), the failures of clauses of a higher layer are not judged: they are BLOCKED by it, so
#: the report names the one thing to fix first (docs/reports.md). No IMPL-DEF clause is a
#: foundation. Every clause that is not a foundation is in the layer above them (3).
FOUNDATIONS: dict[str, int] = {
    "CONV-1": 0,  # x0 = function ID; SMC32 results in w1..w7, SMC64 in x1..x7
    **{cid: 1 for cid in ("CONV-3", "CONV-4", "ID-1", "ID-4")},
    **{cid: 2 for cid in ("VER-1", "VER-4", "IDG-1")},
}
