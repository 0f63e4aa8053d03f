/* The one clock helper: monotonic time for intervals, deadlines and timeouts; wall time for
 * timestamps that leave the process (records, batches, log lines). */
#ifndef PODLENS_LIB_CLOCK_H
#define PODLENS_LIB_CLOCK_H

#include <stdint.h>

uint64_t clock__mono_ns(void);
uint64_t clock__mono_ms(void);
uint64_t clock__wall_ns(void);
uint64_t clock__wall_ms(void);

#endif
