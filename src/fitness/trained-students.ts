/**
 * The students a worker trained most recently, by architecture and steps: a racing parent scored
 * again on another slice, or a finalist on the validation slices, is trained once per worker, not
 * once per slice. Training is deterministic, so this changes speed, never a score.
 */
export class TrainedStudents<T> {
  private readonly kept = new Map<string, T>();

  constructor(private readonly capacity: number) {}

  get(key: string, train: () => T): T {
    const student = this.kept.get(key) ?? train();
    this.kept.delete(key);
    this.kept.set(key, student);
    if (this.kept.size > this.capacity) this.kept.delete(this.kept.keys().next().value!);
    return student;
  }
}
