/**
 * A git repository on disk, standing in for the baseline repository.
 *
 *   makeGitRepo(files): Promise<GitRepo>
 *     a repository with one commit holding `files` (path -> content), e.g.
 *     { "dbtier/baseline.sql": sqlText }. url: a file:// URL git clones from; dir: the work tree.
 *   GitRepo.remove(): delete it.
 */
import { mkdirSync, writeFileSync } from "fs";
import * as path from "path";
import { removeDir, runOk, tempDir } from "./proc";

export interface GitRepo {
  readonly dir: string;
  readonly url: string;
  remove(): void;
}

export async function makeGitRepo(files: Readonly<Record<string, string | Buffer>>): Promise<GitRepo> {
  const dir = tempDir("dbtier-git-");
  const git = (...args: string[]) =>
    runOk("git", ["-c", "user.name=dbtier test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main", ...args], { cwd: dir });
  await git("init", "-q");
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  await git("add", "-A");
  await git("commit", "-q", "-m", "baseline");
  return { dir, url: `file://${dir}`, remove: () => removeDir(dir) };
}
