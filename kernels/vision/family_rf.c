/* vision.rf: receptive fields (seed: 如何计算RF; MECHANISMS.md section E, second half). No kernel to time: the
 * family hosts the `rf` tool (rf_tool.c: per-layer fields of a net spec, ERF and checkerboard heat maps) and the
 * probes of the claims (rf_probes.c). The arithmetic is in rf.h and rf_formula.c, the impulse measurement in
 * rf_measure.c, the effective receptive field in rf_erf.c, the net spec parser in rf_net.c. */
#include "vision/rf.h"

const struct mb_family mb_family_vision_rf = {
    .name = "vision.rf",
    .summary = "receptive fields: the seed's two recursions on net specs (experiments/nets), the field measured by "
               "impulses, and Luo et al.'s effective receptive field",
    .probes = mb_vision_rf_probes,
    .n_probes = (int)(sizeof mb_vision_rf_probes / sizeof mb_vision_rf_probes[0]),
    .tools = mb_vision_rf_tools,
    .n_tools = (int)(sizeof mb_vision_rf_tools / sizeof mb_vision_rf_tools[0]),
};
