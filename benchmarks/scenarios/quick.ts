/** With --quick, the multi-process scenarios run ours and no cache only: they prove the harness works, in a minute. */
export const QUICK_CACHES = new Set(['prisma uncached', 'prisma ormcache', 'typeorm uncached', 'typeorm ormcache'])
