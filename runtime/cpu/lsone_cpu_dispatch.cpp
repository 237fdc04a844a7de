// llama-server-one: the CPU backend of ggml, chosen at startup among the levels linked in.
//
// cpu=multi links one isolated copy of ggml-cpu per level (site_scons/site_tools/cpu_levels.py),
// each exporting upstream's loadable-backend entry points under level names. Like upstream's
// loader (ggml-backend-reg.cpp), the level with the highest ggml_backend_score wins; a score of
// 0 means this CPU lacks the level's instructions. LSONE_CPU_LEVEL=NAME forces a level this CPU
// supports. Builds for one level (cpu=native, portable, performant) only report it.

#include "lsone_cpu.h"

#include "ggml-backend.h"
#include "ggml-cpu.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#define LSONE_STR2(x) #x
#define LSONE_STR(x) LSONE_STR2(x)

namespace {

struct cpu_level {
    const char * name;
    ggml_backend_reg_t (*init)(void);
    int (*score)(void);
};

common_json report(const std::string & level, const std::string & reason, const common_json & levels) {
    common_json out = common_json::object();
    out["level"] = level;
    out["reason"] = reason;
    out["levels"] = levels;
    return out;
}

}  // namespace

#ifdef LSONE_CPU_SINGLE_LEVEL

const common_json & lsone_cpu_level() {
    static const std::string level = LSONE_STR(LSONE_CPU_SINGLE_LEVEL);
    static const common_json built = report(level, "built for one level (cpu=" + level + "); build with cpu=multi "
                                            "to choose at startup", common_json::array());
    return built;
}

#else

#define LSONE_CPU_LEVEL(name) \
    extern "C" ggml_backend_reg_t lsone_cpu_##name##_init(void); \
    extern "C" int lsone_cpu_##name##_score(void);
#include "lsone_cpu_levels.inc"
#undef LSONE_CPU_LEVEL

namespace {

const cpu_level LEVELS[] = {
#define LSONE_CPU_LEVEL(name) {#name, lsone_cpu_##name##_init, lsone_cpu_##name##_score},
#include "lsone_cpu_levels.inc"
#undef LSONE_CPU_LEVEL
};
const int N_LEVELS = (int) (sizeof(LEVELS) / sizeof(LEVELS[0]));

[[noreturn]] void refuse(const std::string & message) {
    std::fprintf(stderr, "llama-server-one: %s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(1);  // before main: nothing to clean up, no destructors of half-made statics
}

struct choice {
    int         level;   // index into LEVELS
    common_json report;  // for /props
};

// The level to run: scored once, before main (see below), reported on stderr.
choice choose() {
    int scores[sizeof(LEVELS) / sizeof(LEVELS[0])];
    int best = -1;
    std::string list;
    for (int i = 0; i < N_LEVELS; i++) {
        scores[i] = LEVELS[i].score();  // compiled without the level's flags: safe on any CPU
        if (scores[i] > 0 && (best < 0 || scores[i] > scores[best])) {
            best = i;
        }
        list += (i ? ", " : "") + std::string(LEVELS[i].name) + "=" + std::to_string(scores[i]);
    }
    if (best < 0) {
        refuse("no CPU level linked into this executable runs on this CPU (scores: " + list + ")");
    }
    int chosen = best;
    std::string reason = "the highest-scoring level this CPU supports (upstream's cpu-feats scores: " + list + ")";
    const char * forced = std::getenv("LSONE_CPU_LEVEL");
    if (forced && *forced) {
        chosen = -1;
        std::string names;
        for (int i = 0; i < N_LEVELS; i++) {
            names += (i ? ", " : "") + std::string(LEVELS[i].name);
            if (std::strcmp(forced, LEVELS[i].name) == 0) {
                chosen = i;
            }
        }
        if (chosen < 0) {
            refuse(std::string("LSONE_CPU_LEVEL=") + forced + ": no such CPU level in this executable; expected one of: " +
                   names + "\n  fix: unset LSONE_CPU_LEVEL to use the best this CPU supports (" + LEVELS[best].name + ")");
        }
        if (scores[chosen] == 0) {
            refuse(std::string("LSONE_CPU_LEVEL=") + forced + ": this CPU lacks instructions that level needs "
                   "(upstream's cpu-feats score is 0; scores: " + list + ")\n  fix: choose a level with a "
                   "score above 0, at most " + LEVELS[best].name + ", or unset LSONE_CPU_LEVEL");
        }
        reason = std::string("forced by LSONE_CPU_LEVEL=") + forced + "; the best this CPU supports is " +
                 LEVELS[best].name + " (scores: " + list + ")";
    }
    std::fprintf(stderr, "llama-server-one: CPU level %s: %s\n", LEVELS[chosen].name, reason.c_str());
    common_json levels = common_json::array();
    for (int i = 0; i < N_LEVELS; i++) {
        levels.push_back({{"name", LEVELS[i].name}, {"score", scores[i]}});
    }
    return {chosen, report(LEVELS[chosen].name, reason, levels)};
}

const choice & chosen_level() {  // a function-local static: safe however early the first caller runs
    static const choice chosen = choose();
    return chosen;
}

}  // namespace

// What GGML_USE_CPU's static registration (ggml-backend-reg.cpp) calls; the levels' own
// ggml_backend_cpu_reg are local to their objects.
ggml_backend_reg_t ggml_backend_cpu_reg(void) {
    static ggml_backend_reg_t reg = LEVELS[chosen_level().level].init();
    return reg;
}

const common_json & lsone_cpu_level() {
    return chosen_level().report;
}

#endif

namespace {
// Choose at startup, so every run (--version and --help too) says which level, and a bad
// LSONE_CPU_LEVEL stops the program before it does anything. Only cpuid and getenv run here;
// the level's backend is initialised later, on ggml's first use. /props then shows this report.
const common_json & g_report_at_startup = lsone_cpu_level();
}
