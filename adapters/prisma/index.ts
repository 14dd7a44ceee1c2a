// Filled in by the Prisma adapter issue; the entry point exists so the package layout is final.
export {}
