// Regenerates src/infra/kafka/kafka-jars.lock.json: the exact jars (with SHA-1) that the
// local Kafka broker runs on. Needs Maven once, on the developer's machine only; msctl
// itself downloads the locked jars straight from Maven Central and verifies them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const KAFKA_VERSION = process.argv[2] ?? '4.3.1';
const LOG4J_VERSION = '2.25.2';
const SLF4J_VERSION = '2.0.17';
const dependency = (g, a, v) =>
  `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
const work = mkdtempSync(join(tmpdir(), 'kafka-lock-'));
writeFileSync(join(work, 'pom.xml'), `<project xmlns="http://maven.apache.org/POM/4.0.0">
<modelVersion>4.0.0</modelVersion><groupId>msctl</groupId><artifactId>kafka-lock</artifactId><version>1</version>
<dependencies>
${dependency('org.slf4j', 'slf4j-api', SLF4J_VERSION)}
${dependency('org.apache.kafka', 'kafka_2.13', KAFKA_VERSION)}
${dependency('org.apache.logging.log4j', 'log4j-slf4j2-impl', LOG4J_VERSION)}
${dependency('org.apache.logging.log4j', 'log4j-core', LOG4J_VERSION)}
</dependencies></project>`);
const listFile = join(work, 'deps.txt');
execFileSync('mvn', ['-q', '-B', 'dependency:list', '-DincludeScope=runtime', `-DoutputFile=${listFile}`], { cwd: work, stdio: 'inherit' });
const m2 = join(homedir(), '.m2', 'repository');
const jars = readFileSync(listFile, 'utf8')
  .split('\n')
  .map((line) => line.trim().split(':'))
  .filter((parts) => parts.length >= 5 && parts[2] === 'jar')
  .map(([group, artifact, , version]) => {
    const path = `${group.replaceAll('.', '/')}/${artifact}/${version}/${artifact}-${version}.jar`;
    const sha1 = createHash('sha1').update(readFileSync(join(m2, path))).digest('hex');
    return { coordinates: `${group}:${artifact}:${version}`, path, sha1 };
  })
  .sort((a, b) => a.coordinates.localeCompare(b.coordinates));
const out = new URL('../src/infra/kafka/kafka-jars.lock.json', import.meta.url);
writeFileSync(out, `${JSON.stringify({ kafkaVersion: KAFKA_VERSION, jars }, null, 2)}\n`);
console.log(`locked ${jars.length} jars for Apache Kafka ${KAFKA_VERSION}`);
