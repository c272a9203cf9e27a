// Checks many EPUBs in one Java virtual machine (press/qa.py, EpubCheck): each line read from
// standard input is "<epub>\t<json report>"; EPUBCheck's own command line runs on it, unchanged
// ("<epub> --json <report> -q"), and the line "<exit code>\t<json report>" answers it.
//
// Started as a single source file (`java -cp epubcheck.jar EpubCheckBatch.java`), which a Java
// runtime of version 11 or later compiles in memory: no build step, nothing compiled is kept.
// One start instead of one per edition: the virtual machine's start-up and the warming of
// EPUBCheck's classes were most of its time.

import com.adobe.epubcheck.tool.EpubChecker;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

public class EpubCheckBatch {
    public static void main(String[] args) throws Exception {
        PrintStream answers = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        System.setOut(System.err);    // whatever EPUBCheck prints must not mix with the answers
        BufferedReader requests = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = requests.readLine()) != null) {
            String[] paths = line.split("\t", 2);
            if (paths.length != 2) {
                answers.println("-2\t" + line);
                continue;
            }
            int code;
            try {
                code = new EpubChecker().run(new String[] {paths[0], "--json", paths[1], "-q"});
            } catch (Throwable error) {
                error.printStackTrace();
                code = -1;
            }
            answers.println(code + "\t" + paths[1]);
        }
    }
}
