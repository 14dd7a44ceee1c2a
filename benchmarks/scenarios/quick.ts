/** With --quick, the multi-process scenarios run ours only: they prove the harness works, in a minute. */
export const QUICK_CACHES = new Set(['prisma ormcache', 'typeorm ormcache'])
