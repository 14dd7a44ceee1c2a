// Filled in by the TypeORM adapter issue; the entry point exists so the package layout is final.
export {}
