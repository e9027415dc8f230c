// The Google Benchmark shim: a C API (harness/gbench.h) that times one C function at a time.
// Register -> RunSpecifiedBenchmarks(&collector) -> ClearRegisteredBenchmarks (DEPENDENCY-NOTES.md).
// The collector is the display reporter, so the library's console output never appears; it keeps every
// repetition's time and the aggregates (mean, median, stddev, cv) computed by the library.
#include "run/gbench.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace {

class Collector : public benchmark::BenchmarkReporter {
  public:
    std::vector<double> samples;
    int64_t iterations = 0;
    double mean = 0, median = 0, stddev = 0, cv = 0;
    bool have_aggregates = false;
    std::string error;

    bool ReportContext(const Context &) override { return true; }

    void ReportRuns(const std::vector<Run> &runs) override {
        for (const Run &run : runs) {
            if (run.error_occurred) {
                error = run.error_message;
                continue;
            }
            if (run.run_type == Run::RT_Iteration) {
                iterations = run.iterations;
                samples.push_back(run.real_accumulated_time / static_cast<double>(run.iterations));
                continue;
            }
            // aggregates: time-valued ones are accumulated time / iterations; cv is already a ratio
            double value = run.aggregate_unit == benchmark::kPercentage
                               ? run.real_accumulated_time
                               : run.real_accumulated_time / static_cast<double>(run.iterations);
            have_aggregates = true;
            if (run.aggregate_name == "mean") mean = value;
            else if (run.aggregate_name == "median") median = value;
            else if (run.aggregate_name == "stddev") stddev = value;
            else if (run.aggregate_name == "cv") cv = value;
        }
    }
};

}  // namespace

extern "C" int mb_gbench_measure(const char *name, void (*body)(void *), void *ctx, double min_time,
                                 int repetitions, double *samples, struct mb_timing *t, char *err,
                                 size_t errlen) {
    if (min_time <= 0 || repetitions < 1) {
        std::snprintf(err, errlen, "min_time must be > 0 and repetitions >= 1");
        return -1;
    }
    Collector collector;
    benchmark::RegisterBenchmark(name, [body, ctx](benchmark::State &state) {
        for (auto _ : state) body(ctx);
    })
        ->UseRealTime()
        ->Threads(1)
        ->MinTime(min_time)
        ->Repetitions(repetitions);
    benchmark::RunSpecifiedBenchmarks(&collector);
    benchmark::ClearRegisteredBenchmarks();

    if (!collector.error.empty()) {
        std::snprintf(err, errlen, "benchmark %s failed: %s", name, collector.error.c_str());
        return -1;
    }
    if (collector.samples.empty()) {
        std::snprintf(err, errlen, "benchmark %s produced no measurement", name);
        return -1;
    }
    const int count = std::min<int>(repetitions, static_cast<int>(collector.samples.size()));
    std::vector<double> sorted(collector.samples.begin(), collector.samples.begin() + count);
    std::copy(sorted.begin(), sorted.end(), samples);
    std::sort(sorted.begin(), sorted.end());
    t->iterations = collector.iterations;
    t->repetitions = count;
    t->min = sorted.front();
    t->max = sorted.back();
    if (collector.have_aggregates) {
        t->mean = collector.mean;
        t->median = collector.median;
        t->stddev = collector.stddev;
        t->cv = collector.cv;
    } else {  // one repetition: no aggregates from the library
        t->mean = t->median = sorted.front();
        t->stddev = 0;
        t->cv = 0;
    }
    return 0;
}
