#!/usr/bin/env node
console.log("eva");
